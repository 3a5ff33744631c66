package collector

import (
	"os"
	"testing"

	"github.com/clogs-io/clogs/internal/leakcheck"
)

// TestMain fails the package if a test leaves goroutines behind, waiting
// out the embedded etcd's peer connections (see streamclient's TestMain).
func TestMain(m *testing.M) {
	os.Exit(leakcheck.AfterRun(m.Run()))
}
