package benchkit

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// StartCPUProfile writes a Go CPU profile of this process to path until
// the returned stop is called (the --cpu-profile flag of the benchmark
// commands).
func StartCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
