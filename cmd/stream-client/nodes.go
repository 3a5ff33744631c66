package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	clogspb "github.com/clogs-io/clogs/proto"
)

func newNodesCmd(global *globalOptions) *cobra.Command {
	opts := &jsonOption{}
	cmd := &cobra.Command{
		Use:   "nodes",
		Short: "List the extent-nodes",
		Long: `List the extent-nodes the stream manager knows: ID, address, whether it is
alive, the age of its last heartbeat and its disks, each as
PATH FREE/TOTAL (or PATH failed).

With --json it prints the manager's NodesInfoResponse as one JSON object.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := newClient(global)
			if err != nil {
				return err
			}
			defer cl.Close()
			resp, err := cl.NodesInfo(cmd.Context())
			if err != nil {
				return managerError(err)
			}
			if opts.json {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			now := time.Now()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tADDR\tALIVE\tHEARTBEAT\tDISKS")
			for _, n := range resp.GetNodes() {
				fmt.Fprintf(tw, "%d\t%s\t%v\t%s\t%s\n", n.GetNode().GetId(), n.GetNode().GetAddr(),
					n.GetAlive(), heartbeatAge(now, n.GetLastHeartbeatUnixNano()), formatDisks(n.GetDisks()))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON object")
	return cmd
}

// heartbeatAge is how long ago the last heartbeat came, "-" for never.
func heartbeatAge(now time.Time, unixNano int64) string {
	if unixNano == 0 {
		return "-"
	}
	return now.Sub(time.Unix(0, unixNano)).Round(time.Millisecond).String() + " ago"
}

func formatDisks(disks []*clogspb.DiskUsage) string {
	if len(disks) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(disks))
	for _, d := range disks {
		if d.GetFailed() {
			parts = append(parts, d.GetPath()+" failed")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %s/%s", d.GetPath(), formatBytes(d.GetFreeBytes()), formatBytes(d.GetTotalBytes())))
	}
	return strings.Join(parts, ", ")
}

// formatBytes is n in binary units, one decimal.
func formatBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
