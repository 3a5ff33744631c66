package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newLsCmd(global *globalOptions) *cobra.Command {
	opts := &jsonOption{}
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the streams",
		Long: `List every stream: its ID, name and number of extents, one a line under
a header.

With --json it prints the manager's ListStreamsResponse as one JSON object.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := newClient(global)
			if err != nil {
				return err
			}
			defer cl.Close()
			resp, err := cl.ListStreams(cmd.Context())
			if err != nil {
				return managerError(err)
			}
			if opts.json {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tEXTENTS")
			for _, s := range resp.GetStreams() {
				fmt.Fprintf(tw, "%d\t%s\t%d\n", s.GetId(), s.GetName(), len(s.GetExtentIds()))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON object")
	return cmd
}
