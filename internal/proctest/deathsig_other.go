//go:build !linux

package proctest

import "os/exec"

// setDeathSignal does nothing where the kernel has no parent-death signal;
// t.Cleanup still ends every process.
func setDeathSignal(*exec.Cmd) {}
