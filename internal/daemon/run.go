package daemon

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Run executes a daemon's root command with args and returns the exit
// code: 0, or 1 after printing the error once, on one line, to stderr,
// prefixed with name.
func Run(root *cobra.Command, name string, args []string, stdout, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "%s: %s\n", name, OneLine(err))
		return 1
	}
	return 0
}

// OneLine joins the lines of a multi-line error (errors.Join) with "; ".
func OneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
}
