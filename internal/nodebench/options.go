package nodebench

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// Options says where and how the benchmark runs.
type Options struct {
	// Dir is the parent of the bench directory: a fresh temporary
	// directory is made inside it, holds the three nodes' disks, and is
	// removed at the end.
	Dir string
	// Duration bounds each workload.
	Duration time.Duration
	// InProcess runs the three nodes as node.Node servers inside this
	// process instead of as cmd/extent-node processes.
	InProcess bool
	// NodeBinary is a prebuilt extent-node to run; empty builds
	// ./cmd/extent-node of the current module into a temporary directory.
	NodeBinary string
	// SkipFio leaves out the fio baseline.
	SkipFio bool
	// SkipComparisons runs only the default workloads, without the snappy
	// and pipelining rows.
	SkipComparisons bool
	// Only, when set, runs only the workloads whose names it matches (for
	// repeating a comparison).
	Only *regexp.Regexp
	// Progress receives one line as each step starts; nil discards.
	Progress io.Writer
}

// DefaultOptions returns the options used when no flag says otherwise.
func DefaultOptions() Options {
	return Options{Dir: "data/bench", Duration: 5 * time.Second}
}

// Validate checks the options.
func (o Options) Validate() error {
	switch {
	case o.Dir == "":
		return errors.New("nodebench: no bench directory")
	case o.Duration <= 0:
		return fmt.Errorf("nodebench: duration %v is not positive", o.Duration)
	case o.InProcess && o.NodeBinary != "":
		return errors.New("nodebench: a node binary and in-process nodes exclude each other")
	}
	return nil
}

// mode says how the nodes run, for the report.
func (o Options) mode() string {
	if o.InProcess {
		return ModeInProcess
	}
	return ModeProcesses
}

// How the nodes run.
const (
	ModeProcesses = "processes"
	ModeInProcess = "in-process"
)
