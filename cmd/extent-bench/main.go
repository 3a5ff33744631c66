// Command extent-bench measures the extent engine on this machine's disk
// next to fio's figures for the same directory, and checks the engine's
// goals. See internal/extentbench.
package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/clogs-io/clogs/internal/benchkit"
	"github.com/clogs-io/clogs/internal/extentbench"
)

func main() {
	benchkit.Main(newRootCommand().ExecuteContext)
}

func newRootCommand() *cobra.Command {
	opts := extentbench.DefaultOptions()
	readSize := strings.ReplaceAll(extentbench.FormatBytes(opts.ReadSize), " ", "") // "1GiB"
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "extent-bench",
		Short: "Benchmark the extent engine against fio on the same disk",
		Long: "extent-bench runs fio (4 KiB and 64 KiB write+fdatasync, 1 MiB direct writes) and the\n" +
			"extent engine's append and sealed-read workloads in a temporary directory under --dir,\n" +
			"prints a table with the goals, and removes the directory again.",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if opts.ReadSize, err = extentbench.ParseSize(readSize); err != nil {
				return fmt.Errorf("--read-size: %w", err)
			}
			opts.Progress = cmd.ErrOrStderr()
			return run(cmd, opts, asJSON)
		},
	}
	flags := cmd.Flags()
	flags.StringVar(&opts.Dir, "dir", opts.Dir, "parent of the temporary bench directory (created and removed)")
	flags.DurationVar(&opts.Duration, "duration", opts.Duration, "how long each workload runs")
	flags.StringVar(&readSize, "read-size", readSize, "size of the sealed extent read back, e.g. 256MiB or 1GiB")
	flags.BoolVar(&asJSON, "json", false, "print one JSON object with all raw numbers instead of the table")
	flags.BoolVar(&opts.SkipFio, "skip-fio", false, "do not run fio for the baseline")
	return cmd
}

// run benchmarks and prints the report.
func run(cmd *cobra.Command, opts extentbench.Options, asJSON bool) error {
	report, err := extentbench.Run(cmd.Context(), opts)
	if err != nil {
		return err
	}
	return benchkit.Print(cmd.OutOrStdout(), report, asJSON)
}
