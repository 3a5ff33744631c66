// Command node-bench measures three-way replication: three extent-nodes on
// this machine (processes of cmd/extent-node, or in this process with
// --in-process) and a client appending to them, next to fio's figures for
// the same disk, with the goals of the replication issue. See
// internal/nodebench.
package main

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/clogs-io/clogs/internal/benchkit"
	"github.com/clogs-io/clogs/internal/nodebench"
)

func main() {
	benchkit.Main(newRootCommand().ExecuteContext)
}

func newRootCommand() *cobra.Command {
	opts := nodebench.DefaultOptions()
	var asJSON bool
	var cpuProfile, only string
	cmd := &cobra.Command{
		Use:   "node-bench",
		Short: "Benchmark three-way replication on this machine against fio on the same disk",
		Long: "node-bench starts three extent-nodes with their disks in a temporary directory under --dir\n" +
			"(cmd/extent-node processes built with go build, or --in-process), runs fio there, then\n" +
			"keeps N synchronous appends in flight against a fresh extent per workload: 4 KiB x1,\n" +
			"4 KiB x64, 64 KiB x32, 1 MiB x8, and rows comparing snappy and the primary's pipelining.\n" +
			"It prints a table with the goals (or --json), stops the nodes and removes the directory.",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Progress = cmd.ErrOrStderr()
			if only != "" {
				var err error
				if opts.Only, err = regexp.Compile(only); err != nil {
					return fmt.Errorf("--only: %w", err)
				}
			}
			return run(cmd, opts, asJSON, cpuProfile)
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&opts.Dir, "dir", opts.Dir, "parent of the temporary bench directory (created and removed)")
	flags.DurationVar(&opts.Duration, "duration", opts.Duration, "how long each workload runs")
	flags.BoolVar(&opts.InProcess, "in-process", false, "run the three nodes inside this process instead of as extent-node processes")
	flags.StringVar(&opts.NodeBinary, "node-binary", "", "extent-node binary to run (default: go build ./cmd/extent-node into a temporary directory)")
	flags.BoolVar(&asJSON, "json", false, "print one JSON object with all raw numbers instead of the tables")
	flags.BoolVar(&opts.SkipFio, "skip-fio", false, "do not run fio for the baseline")
	flags.BoolVar(&opts.SkipComparisons, "skip-comparisons", false, "run only the default workloads, not the snappy and pipelining rows")
	flags.StringVar(&only, "only", "", "run only the workloads whose names match this regular expression, e.g. 'in-flight batches'")
	flags.StringVar(&cpuProfile, "cpu-profile", "", "write a CPU profile of this process to the file (with --in-process it covers the nodes too)")
	return cmd
}

// run benchmarks and prints the report.
func run(cmd *cobra.Command, opts nodebench.Options, asJSON bool, cpuProfile string) (err error) {
	if cpuProfile != "" {
		stop, startErr := benchkit.StartCPUProfile(cpuProfile)
		if startErr != nil {
			return startErr
		}
		defer func() { err = errors.Join(err, stop()) }()
	}
	report, err := nodebench.Run(cmd.Context(), opts)
	if err != nil {
		return err
	}
	return benchkit.Print(cmd.OutOrStdout(), report, asJSON)
}
