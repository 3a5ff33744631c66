package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/clogs-io/clogs/logblock"
	"github.com/clogs-io/clogs/streamclient"
	"github.com/clogs-io/clogs/streammanager"
)

// verifyReaders is how many streams verify reads at once.
const verifyReaders = 8

// verifyPoll is the pause between two passes over the streams while
// lines are still arriving.
const verifyPoll = 200 * time.Millisecond

// VerifyResult is what --verify found in the streams. The JSON names are
// a contract for scripts.
type VerifyResult struct {
	Streams    int     `json:"streams"`
	Stored     uint64  `json:"stored"`     // distinct lines of this run found
	Lost       uint64  `json:"lost"`       // sent and not found
	Reordered  uint64  `json:"reordered"`  // found after a later line of their file
	Duplicates uint64  `json:"duplicates"` // found more than once
	Unexpected uint64  `json:"unexpected"` // of this run, with a sequence number never sent
	Unmasked   uint64  `json:"unmasked"`   // with --cards, lines whose card number was not masked
	Other      uint64  `json:"other"`      // lines of other runs or programs, ignored
	Seconds    float64 `json:"seconds"`    // spent waiting and reading
}

// clean reports whether the pipeline kept every line, in order, masked.
func (v *VerifyResult) clean() bool {
	return v.Lost == 0 && v.Reordered == 0 && v.Unexpected == 0 && v.Unmasked == 0
}

// fileCheck is what verify knows of one file's stream.
type fileCheck struct {
	file   *benchFile
	stream string
	pos    streamclient.Address // where the next pass reads from
	dedup  logblock.Dedup
	seen   []uint64 // bit seq-1 set when line seq was found
	maxSeq uint64
	counts VerifyResult // Stored, Reordered, Duplicates, Unexpected, Unmasked, Other
}

// verify reads the files' streams until every line sent is stored, or
// nothing new arrives for o.settle, or o.verifyTimeout passes, and counts
// what it found.
func verify(ctx context.Context, o *options, run string, files []*benchFile, progress io.Writer) (*VerifyResult, error) {
	addrs := splitAddrs(o.sm)
	if len(addrs) == 0 {
		return nil, &usageError{errors.New("--sm: no stream manager address")}
	}
	cfg := streamclient.DefaultConfig()
	cfg.Managers = addrs
	cl, err := streamclient.New(cfg)
	if err != nil {
		return nil, err
	}
	defer cl.Close()

	checks := make([]*fileCheck, len(files))
	var expected uint64
	for i, f := range files {
		checks[i] = &fileCheck{file: f, stream: streamName(o.template, o.sys, o.msgType, f.name), seen: make([]uint64, (f.sent+63)/64)}
		expected += f.sent
	}
	start := time.Now()
	lastGrowth, lastNote := start, start
	var stored uint64
	for {
		grew, err := readPass(ctx, cl, checks, []byte(run), o.cards)
		if err != nil {
			return nil, err
		}
		stored += grew
		now := time.Now()
		if grew > 0 {
			lastGrowth = now
		}
		if stored >= expected || now.Sub(lastGrowth) >= o.settle || now.Sub(start) >= o.verifyTimeout {
			break
		}
		if now.Sub(lastNote) >= time.Second {
			fmt.Fprintf(progress, "verify: %d of %d lines stored so far\n", stored, expected)
			lastNote = now
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(verifyPoll):
		}
	}
	return summarize(checks, time.Since(start)), nil
}

// readPass reads each stream from where the last pass ended, with
// verifyReaders at once, and returns how many new lines of the run it
// found.
func readPass(ctx context.Context, cl *streamclient.Client, checks []*fileCheck, run []byte, cards bool) (uint64, error) {
	work := make(chan *fileCheck)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		grew     uint64 // guarded by mu
		firstErr error  // guarded by mu
	)
	for range min(verifyReaders, len(checks)) {
		wg.Go(func() {
			for c := range work {
				n, err := c.read(ctx, cl, run, cards)
				mu.Lock()
				grew += n
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	for _, c := range checks {
		work <- c
	}
	close(work)
	wg.Wait()
	return grew, firstErr
}

// read reads c's stream from c.pos to its end and returns how many new
// lines of the run it found. A stream that does not exist yet holds none.
func (c *fileCheck) read(ctx context.Context, cl *streamclient.Client, run []byte, cards bool) (uint64, error) {
	r, err := cl.OpenReader(ctx, c.stream, c.pos, false)
	if errors.Is(err, streammanager.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", c.stream, err)
	}
	before := c.counts.Stored
	for {
		blocks, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			return c.counts.Stored - before, nil
		}
		if err != nil {
			return 0, fmt.Errorf("stream %s: %w", c.stream, err)
		}
		for _, b := range blocks {
			if err := c.block(b, run, cards); err != nil {
				return 0, fmt.Errorf("stream %s: %w", c.stream, err)
			}
		}
		c.pos = r.Position()
	}
}

// block counts the lines of one block; a block seen before is skipped.
func (c *fileCheck) block(b streamclient.Block, run []byte, cards bool) error {
	if !logblock.IsLogBlock(b.UserData) {
		c.counts.Other++
		return nil
	}
	records, h, err := logblock.Decode(b.Payload, b.UserData)
	if err != nil {
		return fmt.Errorf("block at %v: %w", b.Address, err)
	}
	if c.dedup.Repeat(h) {
		return nil
	}
	for _, rec := range records {
		c.line(rec.Message, run, cards)
	}
	return nil
}

// line counts one stored line.
func (c *fileCheck) line(msg, run []byte, cards bool) {
	lineRun, seq, ok := parseMessage(msg)
	if !ok || !bytes.Equal(lineRun, run) {
		c.counts.Other++
		return
	}
	if seq == 0 || seq > c.file.sent {
		c.counts.Unexpected++
		return
	}
	word, bit := (seq-1)/64, uint64(1)<<((seq-1)%64)
	if c.seen[word]&bit != 0 {
		c.counts.Duplicates++
		return
	}
	c.seen[word] |= bit
	c.counts.Stored++
	if seq < c.maxSeq {
		c.counts.Reordered++
	}
	c.maxSeq = max(c.maxSeq, seq)
	if cards && (bytes.Contains(msg, []byte(testCard)) || !bytes.Contains(msg, []byte(maskedCard))) {
		c.counts.Unmasked++
	}
}

// summarize adds up the files' counts.
func summarize(checks []*fileCheck, took time.Duration) *VerifyResult {
	v := &VerifyResult{Streams: len(checks), Seconds: took.Seconds()}
	for _, c := range checks {
		v.Stored += c.counts.Stored
		v.Lost += c.file.sent - c.counts.Stored
		v.Reordered += c.counts.Reordered
		v.Duplicates += c.counts.Duplicates
		v.Unexpected += c.counts.Unexpected
		v.Unmasked += c.counts.Unmasked
		v.Other += c.counts.Other
	}
	return v
}

// streamName applies the collectors' stream template to a line's fields.
func streamName(template, sys, msgType, file string) string {
	return strings.NewReplacer("{sys}", sys, "{type}", msgType, "{file}", file).Replace(template)
}

// splitAddrs splits a comma list of host:port.
func splitAddrs(list string) []string {
	var out []string
	for a := range strings.SplitSeq(list, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}
