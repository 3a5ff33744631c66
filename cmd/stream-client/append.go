package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/streamclient"
)

// defaultBlockSize is append's default --block-size.
const defaultBlockSize = 1 << 20

// appendBatchBytes is how many bytes of payload one Append call carries at
// most (at least one block): fewer round trips for small blocks, well
// under the gRPC message limit.
const appendBatchBytes = 4 << 20

type appendOptions struct {
	blockSize int
}

func newAppendCmd(global *globalOptions) *cobra.Command {
	opts := &appendOptions{}
	cmd := &cobra.Command{
		Use:   "append NAME [FILE]",
		Short: "Append a file (or stdin) to a stream, block-size bytes a block",
		Long: `Append FILE, or standard input when FILE is absent or "-", to stream NAME,
creating the stream if needed. Each block's payload is the next --block-size
bytes of input (the last block may be shorter), so "cat NAME" gives the
input back byte for byte.

A summary goes to stderr: blocks, bytes, and the first and last block's
address as EXTENT:OFFSET (what "cat --from" takes).`,
		Args: usageArgs(cobra.RangeArgs(1, 2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAppend(cmd, global, opts, args)
		},
	}
	cmd.Flags().IntVar(&opts.blockSize, "block-size", defaultBlockSize,
		fmt.Sprintf("payload bytes a block, 1 to %d", extent.MaxPayload))
	return cmd
}

func runAppend(cmd *cobra.Command, global *globalOptions, opts *appendOptions, args []string) error {
	name := args[0]
	if opts.blockSize < 1 || opts.blockSize > extent.MaxPayload {
		return &usageError{fmt.Errorf("--block-size %d: want 1 to %d", opts.blockSize, extent.MaxPayload)}
	}
	if err := checkStreamName(name); err != nil {
		return err
	}
	in := cmd.InOrStdin()
	if len(args) == 2 && args[1] != "-" {
		f, err := os.Open(args[1])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	cl, err := newClient(global)
	if err != nil {
		return err
	}
	defer cl.Close()

	ctx := cmd.Context()
	var (
		w            *streamclient.Writer
		blocks       int
		bytes        int64
		first, last  streamclient.Address
		inputErr     error
		appendFailed = func(err error) error {
			return fmt.Errorf("append to %s after %d blocks, %d bytes: %w", name, blocks, bytes, managerError(err))
		}
	)
	for inputErr == nil {
		batch, size, err := readBatch(in, opts.blockSize, batchLimit(global))
		inputErr = err
		if len(batch) == 0 {
			break
		}
		if w == nil {
			if w, err = cl.OpenWriter(ctx, name); err != nil {
				return managerError(err)
			}
		}
		addrs, err := w.Append(ctx, batch...)
		if err != nil {
			return appendFailed(err)
		}
		if blocks == 0 {
			first = addrs[0]
		}
		last = addrs[len(addrs)-1]
		blocks += len(batch)
		bytes += size
	}
	if inputErr != nil && !errors.Is(inputErr, io.EOF) {
		return fmt.Errorf("read input after %d blocks, %d bytes: %w", blocks, bytes, inputErr)
	}
	if blocks == 0 {
		// Empty input: the stream exists afterwards, as it would otherwise.
		if _, err := cl.CreateStream(ctx, name); err != nil {
			return managerError(err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "appended 0 blocks, 0 bytes to %s\n", name)
		return nil
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "appended %d blocks, %d bytes to %s: first %s, last %s\n",
		blocks, bytes, name, first, last)
	return nil
}

// batchLimit is how many bytes of extent one append call may take: at
// most appendBatchBytes, and what fits in one extent (a call's blocks land
// in one extent).
func batchLimit(global *globalOptions) uint64 {
	return min(appendBatchBytes, uint64(global.maxExtentSize)-extent.ExtentHeaderSize)
}

// readBatch reads blocks of blockSize bytes (the last may be shorter) until
// the next would take them past limit bytes of extent (at least one block
// is read) or the input ends. err is io.EOF at the end of input, or the
// read error; blocks read before it are returned with it.
func readBatch(in io.Reader, blockSize int, limit uint64) (batch []extent.Block, size int64, err error) {
	var stored uint64
	for size == 0 || stored+extent.BlockSize(blockSize) <= limit {
		buf := make([]byte, blockSize)
		n, err := io.ReadFull(in, buf)
		if n > 0 {
			batch = append(batch, extent.Block{Payload: buf[:n]})
			size += int64(n)
			stored += extent.BlockSize(n)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF
		}
		if err != nil {
			return batch, size, err
		}
	}
	return batch, size, nil
}
