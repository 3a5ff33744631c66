package proctest

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel SIGKILL the child when the test binary
// dies (a test timeout's panic, a SIGKILL from the developer), when no
// t.Cleanup runs. (The signal follows the thread that started the child;
// the Go runtime does not end threads that tests did not lock.)
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
