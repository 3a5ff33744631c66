package streamclient

import (
	"os"
	"testing"

	"github.com/clogs-io/clogs/internal/leakcheck"
)

// TestMain fails the package if a test leaves goroutines behind. The
// embedded etcd's peer connections can outlive a clean Close by up to 5s
// (see streammanager's TestMain), so the check waits for them to end
// rather than ignoring them.
func TestMain(m *testing.M) {
	os.Exit(leakcheck.AfterRun(m.Run()))
}
