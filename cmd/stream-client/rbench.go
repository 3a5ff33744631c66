package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/internal/benchkit"
	"github.com/clogs-io/clogs/streamclient"
)

func newRbenchCmd(opts *globalOptions) *cobra.Command {
	var stream string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rbench",
		Short: "Measure a sequential scan of a stream: blocks, MiB/s",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := newClient(opts)
			if err != nil {
				return err
			}
			defer cl.Close()
			res, err := scanStream(cmd, cl, stream)
			if err != nil {
				return err
			}
			return printRbench(cmd.OutOrStdout(), res, asJSON)
		},
	}
	cmd.Flags().StringVar(&stream, "stream", "bench/wbench", "stream to scan")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object instead of the table")
	return cmd
}

// RbenchResult is rbench's outcome.
type RbenchResult struct {
	Stream       string  `json:"stream"`
	Blocks       int64   `json:"blocks"`
	PayloadBytes int64   `json:"payload_bytes"`
	DiskBytes    int64   `json:"disk_bytes"`
	Seconds      float64 `json:"seconds"`
	MiBPerS      float64 `json:"mib_per_s"`
	BlocksPerS   float64 `json:"blocks_per_s"`
}

func scanStream(cmd *cobra.Command, cl *streamclient.Client, stream string) (RbenchResult, error) {
	ctx := cmd.Context()
	r, err := cl.OpenReader(ctx, stream, streamclient.Address{}, false)
	if err != nil {
		return RbenchResult{}, err
	}
	res := RbenchResult{Stream: stream}
	began := time.Now()
	for {
		blocks, err := r.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, err
		}
		for _, b := range blocks {
			res.Blocks++
			res.PayloadBytes += int64(len(b.Payload))
			res.DiskBytes += int64(extent.BlockSize(len(b.Payload)))
		}
	}
	res.Seconds = time.Since(began).Seconds()
	res.MiBPerS = float64(res.PayloadBytes) / (1 << 20) / res.Seconds
	res.BlocksPerS = float64(res.Blocks) / res.Seconds
	return res, nil
}

func printRbench(w io.Writer, r RbenchResult, asJSON bool) error {
	if asJSON {
		return benchkit.WriteJSON(w, r)
	}
	return benchkit.WriteTable(w, func(out *strings.Builder) {
		benchkit.WriteAligned(out, [][]string{
			{"stream", "blocks", "payload MiB", "seconds", "MiB/s", "blocks/s"},
			{r.Stream, fmt.Sprint(r.Blocks), fmt.Sprintf("%.1f", float64(r.PayloadBytes)/(1<<20)), fmt.Sprintf("%.2f", r.Seconds),
				fmt.Sprintf("%.1f", r.MiBPerS), fmt.Sprintf("%.0f", r.BlocksPerS)},
		})
	})
}
