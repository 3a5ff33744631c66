package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

type jsonOption struct {
	json bool
}

func newCreateCmd(global *globalOptions) *cobra.Command {
	opts := &jsonOption{}
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a stream (or show the existing one of that name)",
		Long: `Create stream NAME and print its ID and name. Creating a stream that
exists is not an error: its ID is printed. Stream names are 1-255 bytes of
[A-Za-z0-9._/-].

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
			resp, err := cl.CreateStream(cmd.Context(), name)
			if err != nil {
				return managerError(err)
			}
			if opts.json {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%d %s\n", resp.GetStream().GetId(), resp.GetStream().GetName())
			return err
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON object")
	return cmd
}
