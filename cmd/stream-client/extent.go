package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/clogs-io/clogs/extent"
)

// newExtentCmd is the parent of the commands that read extent files
// directly, on the node's disk, without a cluster. They never change a
// file: they use extent.Inspect, not extent.Open (which would cut a torn
// tail).
func newExtentCmd(_ *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "extent",
		Short: "Inspect extent files on disk (read-only)",
		Long: `Inspect extent files directly on an extent-node's disk. The files are
only read: a torn tail is reported, not cut as opening the extent would.`,
		// Runnable only so that an unknown subcommand is an error, not help.
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newExtentDumpCmd(), newExtentVerifyCmd())
	return cmd
}

// Problem kinds, as the --json outputs name them.
const (
	kindTornTail   = "torn_tail"
	kindCorruption = "corruption"
	kindUnknown    = "unknown"
)

// problemJSON describes a Report.Problem in JSON output.
type problemJSON struct {
	Kind    string `json:"kind"`
	Offset  uint64 `json:"offset"`
	Message string `json:"message"`
}

// newProblemJSON returns nil for a clean file.
func newProblemJSON(problem error) *problemJSON {
	if problem == nil {
		return nil
	}
	kind, offset := classifyProblem(problem)
	return &problemJSON{Kind: kind, Offset: offset, Message: problem.Error()}
}

// classifyProblem returns the kind and offset of a Report.Problem.
func classifyProblem(problem error) (string, uint64) {
	var torn *extent.TornTailError
	var corrupt *extent.CorruptionError
	switch {
	case errors.As(problem, &torn):
		return kindTornTail, torn.Offset
	case errors.As(problem, &corrupt):
		return kindCorruption, corrupt.Offset
	}
	return kindUnknown, 0
}

// describeProblem is the one-line, human description of a Report.Problem.
func describeProblem(problem error) string {
	var torn *extent.TornTailError
	var corrupt *extent.CorruptionError
	switch {
	case errors.As(problem, &torn):
		return fmt.Sprintf("torn tail at offset %d (%d bytes after the last valid block)%s",
			torn.Offset, torn.Dropped, causeSuffix(torn.Err))
	case errors.As(problem, &corrupt):
		return fmt.Sprintf("corruption at offset %d%s", corrupt.Offset, causeSuffix(corrupt.Err))
	}
	return problem.Error()
}

func causeSuffix(cause error) string {
	if cause == nil {
		return ""
	}
	return ": " + cause.Error()
}

// withPath adds path to an error from reading the file, unless the error
// already names it.
func withPath(path string, err error) error {
	if strings.Contains(err.Error(), path) {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// headerValid reports whether Inspect could decode the extent header; a
// valid header always carries the format version, never zero.
func headerValid(r extent.Report) bool { return r.Header.Version != 0 }

// pastSealed is how many bytes a sealed file holds beyond its sealed
// length: a crash between the seal's truncate and its xattr leaves them,
// and opening the extent cuts them. They are not checked.
func pastSealed(r extent.Report) uint64 {
	if !r.Sealed || r.Size <= r.SealedLength {
		return 0
	}
	return r.Size - r.SealedLength
}
