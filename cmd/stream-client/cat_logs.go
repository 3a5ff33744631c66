package main

import (
	"bufio"
	"fmt"
	"io"

	"github.com/clogs-io/clogs/logblock"
	"github.com/clogs-io/clogs/streamclient"
)

// writeRaw writes a block's payload as it is.
func writeRaw(out *bufio.Writer, b streamclient.Block) error {
	_, err := out.Write(b.Payload)
	return err
}

// logWriter writes the lines of log blocks, each block once.
type logWriter struct {
	json   bool
	stderr io.Writer
	it     logblock.Iterator
	dedup  logblock.Dedup
	lines  []byte // one block's lines, written only when the whole block checks out
}

func (w *logWriter) write(out *bufio.Writer, b streamclient.Block) error {
	if !logblock.IsLogBlock(b.UserData) {
		fmt.Fprintf(w.stderr, "stream-client: block %v is not a log block; skipped\n", b.Address)
		return nil
	}
	if err := w.it.Reset(b.Payload, b.UserData); err != nil {
		return fmt.Errorf("log block %v: %w", b.Address, err)
	}
	if w.dedup.Repeat(w.it.Header()) {
		return nil
	}
	w.lines = w.lines[:0]
	for w.it.Next() {
		if w.json {
			w.lines = w.it.Record().AppendJSON(w.lines)
		} else {
			w.lines = w.it.Record().AppendText(w.lines)
		}
		w.lines = append(w.lines, '\n')
	}
	if err := w.it.Err(); err != nil {
		return fmt.Errorf("log block %v: %w", b.Address, err)
	}
	_, err := out.Write(w.lines)
	return err
}
