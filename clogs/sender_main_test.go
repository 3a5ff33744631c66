package clogs

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: a
// Sender's health checks must end with Close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
