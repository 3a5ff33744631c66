package node

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: every
// test stops its nodes and closes its connection pools.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
