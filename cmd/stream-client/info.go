package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	clogspb "github.com/clogs-io/clogs/proto"
)

func newInfoCmd(global *globalOptions) *cobra.Command {
	opts := &jsonOption{}
	cmd := &cobra.Command{
		Use:   "info NAME",
		Short: "Show a stream and its extents",
		Long: `Show stream NAME: its ID, creation time and extents, then a table of the
extents in stream order: ID, state (sealed or open), sealed length in bytes
("-" while open) and replicas as NODE-ID@ADDR, primary first.

With --json it prints the manager's StreamResponse as one JSON object.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkStreamName(name); err != nil {
				return err
			}
			cl, err := newClient(global)
			if err != nil {
				return err
			}
			defer cl.Close()
			resp, err := cl.StreamInfo(cmd.Context(), name)
			if err != nil {
				return streamError(name, err)
			}
			if opts.json {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			return printStreamInfo(cmd, resp)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON object")
	return cmd
}

func printStreamInfo(cmd *cobra.Command, resp *clogspb.StreamResponse) error {
	s := resp.GetStream()
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "stream %d %s\ncreated %s\npolicy %s\nextents %d\n\n",
		s.GetId(), s.GetName(), formatTime(s.GetCreatedUnixNano()), policyString(s.GetPolicy()), len(resp.GetExtents()))
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "EXTENT\tSTATE\tSEALED-LENGTH\tLAYOUT\tREPLICAS OR SHARDS")
	for _, e := range resp.GetExtents() {
		state, length := "open", "-"
		if e.GetSealed() {
			state, length = "sealed", fmt.Sprint(e.GetSealedLength())
		}
		layout, places := "replicated", e.GetReplicas()
		if l := e.GetErasure(); l != nil {
			layout, places = fmt.Sprintf("ec %d+%d", l.GetDataShards(), l.GetParityShards()), l.GetShards()
		}
		where := make([]string, 0, len(places))
		for _, r := range places {
			where = append(where, fmt.Sprintf("%d@%s", r.GetNodeId(), r.GetAddr()))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.GetId(), state, length, layout, strings.Join(where, " "))
	}
	return tw.Flush()
}

// formatTime formats Unix nanoseconds, "-" for none.
func formatTime(unixNano int64) string {
	if unixNano == 0 {
		return "-"
	}
	return time.Unix(0, unixNano).UTC().Format(time.RFC3339Nano)
}
