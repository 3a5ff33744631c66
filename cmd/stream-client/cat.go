package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/clogs-io/clogs/streamclient"
)

type catOptions struct {
	from   string
	follow bool
	logs   bool
	json   bool
	since  string
	grep   string
}

func newCatCmd(global *globalOptions) *cobra.Command {
	opts := &catOptions{}
	cmd := &cobra.Command{
		Use:   "cat NAME",
		Short: "Write a stream's block payloads to stdout",
		Long: `Write the payloads of stream NAME's blocks to stdout, raw and in order, so
that "append" then "cat" gives the input back byte for byte.

--from EXTENT:OFFSET starts at that block (an address "append" printed);
OFFSET 0 is the start of the extent. --follow waits for new blocks at the
end until interrupted (SIGINT or SIGTERM end it with exit code 0).

--logs decodes the log blocks the collector writes into one line per log
line: receive time, source, sys/type/file, and the (masked) message;
--json prints one JSON object a line instead, with time, source, sys, type,
file and msg. A block stored twice by a retry is shown once; a block that is
not a log block is skipped and reported on stderr. --since (a time, RFC 3339,
or a duration back from now, like 15m) and --grep (a regular expression,
RE2, matched against the message) select lines; both imply --logs.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCat(cmd, global, opts, args[0])
		},
	}
	cmd.Flags().StringVar(&opts.from, "from", "", "start at block address `EXTENT:OFFSET`")
	cmd.Flags().BoolVar(&opts.follow, "follow", false, "wait for new blocks until interrupted")
	cmd.Flags().BoolVar(&opts.logs, "logs", false, "decode log blocks into lines")
	cmd.Flags().BoolVar(&opts.json, "json", false, "with --logs: one JSON object a line (implies --logs)")
	cmd.Flags().StringVar(&opts.since, "since", "", "only lines received at or after this time (RFC 3339) or this long ago (15m); implies --logs")
	cmd.Flags().StringVar(&opts.grep, "grep", "", "only lines whose message matches this regular expression (RE2); implies --logs")
	return cmd
}

// parseAddress parses EXTENT:OFFSET.
func parseAddress(s string) (streamclient.Address, error) {
	e, o, ok := strings.Cut(s, ":")
	extentID, err1 := strconv.ParseUint(e, 10, 64)
	offset, err2 := strconv.ParseUint(o, 10, 64)
	if !ok || err1 != nil || err2 != nil || extentID == 0 {
		return streamclient.Address{}, fmt.Errorf("--from %q: want EXTENT:OFFSET, as append prints", s)
	}
	return streamclient.Address{Extent: extentID, Offset: offset}, nil
}

func runCat(cmd *cobra.Command, global *globalOptions, opts *catOptions, name string) error {
	var from streamclient.Address
	if opts.from != "" {
		var err error
		if from, err = parseAddress(opts.from); err != nil {
			return &usageError{err}
		}
	}
	if err := checkStreamName(name); err != nil {
		return err
	}
	filter, err := newLineFilter(opts.since, opts.grep, time.Now())
	if err != nil {
		return &usageError{err}
	}
	ctx := cmd.Context()
	if opts.follow {
		var stop func()
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	cl, err := newClient(global)
	if err != nil {
		return err
	}
	defer cl.Close()
	r, err := cl.OpenReader(ctx, name, from, opts.follow)
	if err != nil {
		if opts.follow && ctx.Err() != nil {
			return nil
		}
		return streamError(name, err)
	}
	out := bufio.NewWriterSize(cmd.OutOrStdout(), 1<<20)
	write := writeRaw
	if opts.logs || opts.json || filter.active() {
		lw := &logWriter{json: opts.json, stderr: cmd.ErrOrStderr(), filter: filter}
		write = lw.write
	}
	for {
		blocks, err := r.Next(ctx)
		for _, b := range blocks {
			if werr := write(out, b); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return out.Flush()
		}
		if err != nil {
			if opts.follow && ctx.Err() != nil {
				// Interrupted: the end of a follow, not a failure.
				return out.Flush()
			}
			out.Flush()
			return streamError(name, err)
		}
		if opts.follow {
			if err := out.Flush(); err != nil {
				return err
			}
		}
	}
}
