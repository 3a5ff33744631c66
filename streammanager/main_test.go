package streammanager

import (
	"os"
	"testing"

	"github.com/clogs-io/clogs/internal/leakcheck"
)

// TestMain fails the package if a test leaves goroutines behind: every test
// closes its managers, nodes, sessions and connection pools.
//
// No goroutine is ignored. What does outlive a clean Close for a while are
// the HTTP connections between the members of a multi-member embedded etcd
// (rafthttp probes and version checks on the peer listener):
//
//   - net/http.(*connReader).backgroundRead reading through
//     github.com/soheilhy/cmux.(*MuxConn).Read and
//     go.etcd.io/etcd/client/pkg/v3/transport.timeoutConn.Read,
//   - net/http.(*conn).serve waiting in (*connReader).abortPendingRead,
//   - the peer client's net/http.(*persistConn).readLoop and writeLoop.
//
// etcd's timeoutConn renews the read deadline on every Read, which defeats
// net/http's way of aborting the background read, so such a connection
// ends only when that deadline (rafthttp.ConnReadTimeout, 5s) passes. The
// check therefore waits up to 15s for the goroutines to end instead of
// ignoring them, so that a real leak with the same top function is still
// caught.
func TestMain(m *testing.M) {
	os.Exit(leakcheck.AfterRun(m.Run()))
}
