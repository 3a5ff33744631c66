package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"time"

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
	filter lineFilter
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
	if w.dedup.Repeat(w.it.Header()) || w.filter.skipsBlock(w.it.Header()) {
		return nil
	}
	w.lines = w.lines[:0]
	for w.it.Next() {
		if !w.filter.keeps(w.it.Record()) {
			continue
		}
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

// lineFilter selects the lines cat --logs prints.
type lineFilter struct {
	sinceNanos int64          // 0: from the start
	grep       *regexp.Regexp // nil: every message
}

// newLineFilter parses --since (RFC 3339, or a duration back from now)
// and --grep.
func newLineFilter(since, grep string, now time.Time) (lineFilter, error) {
	var f lineFilter
	if since != "" {
		if d, err := time.ParseDuration(since); err == nil && d >= 0 {
			f.sinceNanos = now.Add(-d).UnixNano()
		} else if at, err := time.Parse(time.RFC3339Nano, since); err == nil {
			f.sinceNanos = at.UnixNano()
		} else {
			return f, fmt.Errorf("--since %q: want an RFC 3339 time (2026-11-22T05:54:38Z) or a duration (15m)", since)
		}
	}
	if grep != "" {
		re, err := regexp.Compile(grep)
		if err != nil {
			return f, fmt.Errorf("--grep: %w", err)
		}
		f.grep = re
	}
	return f, nil
}

func (f lineFilter) active() bool { return f.sinceNanos != 0 || f.grep != nil }

// skipsBlock: every line of the block is older than --since.
func (f lineFilter) skipsBlock(h logblock.Header) bool { return h.LastNanos < f.sinceNanos }

func (f lineFilter) keeps(r logblock.Record) bool {
	return r.ReceivedNanos >= f.sinceNanos && (f.grep == nil || f.grep.Match(r.Message))
}
