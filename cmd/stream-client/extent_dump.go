package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/clogs-io/clogs/extent"
)

// userDataPreview is how many bytes of user data dump shows of each block.
const userDataPreview = 16

type extentDumpOptions struct {
	json     bool
	payloads int // payload bytes to preview per block; 0 for none
}

func newExtentDumpCmd() *cobra.Command {
	opts := &extentDumpOptions{}
	cmd := &cobra.Command{
		Use:   "dump FILE",
		Short: "Print an extent file's header, blocks and problems",
		Long: `Print an extent file's header, its size and sealed state, one line per
valid block (offset, payload length, size on disk, user-data length, hex
previews of the user data and the payload), then the summary and the first
problem found: a torn tail (what opening the extent would cut) or
corruption.

dump exits 0 whenever it could read the file, even when the file has a
problem; use "extent verify" to test a file's health.

With --json it prints one JSON document:
  {"path", "extent_id", "version", "created" (RFC 3339, null when the header
   is invalid), "size", "sealed", "sealed_length",
   "blocks": [{"offset", "payload_len", "size", "user_data_len",
               "user_data_hex", "payload_hex"}],
   "valid_end", "problem": {"kind": "torn_tail"|"corruption", "offset",
   "message"} or null}`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExtentDump(cmd.OutOrStdout(), args[0], opts)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON document")
	cmd.Flags().IntVar(&opts.payloads, "payloads", 16, "payload bytes to show in hex for each block (0 for none)")
	return cmd
}

// dumpBlock is one valid block, as dump prints it.
type dumpBlock struct {
	Offset      uint64 `json:"offset"`
	PayloadLen  int    `json:"payload_len"`
	Size        uint64 `json:"size"`
	UserDataLen int    `json:"user_data_len"`
	UserDataHex string `json:"user_data_hex"` // at most userDataPreview bytes
	PayloadHex  string `json:"payload_hex"`   // at most --payloads bytes

	userDataCut, payloadCut bool // the preview is shorter than the data
}

// dumpJSON is the --json document.
type dumpJSON struct {
	Path         string       `json:"path"`
	ExtentID     uint64       `json:"extent_id"`
	Version      uint32       `json:"version"`
	Created      *string      `json:"created"`
	Size         uint64       `json:"size"`
	Sealed       bool         `json:"sealed"`
	SealedLength uint64       `json:"sealed_length"`
	Blocks       []dumpBlock  `json:"blocks"`
	ValidEnd     uint64       `json:"valid_end"`
	Problem      *problemJSON `json:"problem"`
}

func runExtentDump(out io.Writer, path string, opts *extentDumpOptions) error {
	if opts.payloads < 0 {
		return &usageError{fmt.Errorf("--payloads %d: want 0 or more bytes", opts.payloads)}
	}
	// Inspect hands over the header only at the end, and the header is
	// printed first, so the block lines are collected.
	blocks := []dumpBlock{}
	report, err := extent.Inspect(nil, path, func(b extent.BlockAt) error {
		blocks = append(blocks, newDumpBlock(b, opts.payloads))
		return nil
	})
	if err != nil {
		return withPath(path, err)
	}
	if opts.json {
		return writeDumpJSON(out, report, blocks)
	}
	return writeDumpText(out, report, blocks, opts.payloads > 0)
}

func newDumpBlock(b extent.BlockAt, payloadPreview int) dumpBlock {
	d := dumpBlock{
		Offset:      b.Offset,
		PayloadLen:  len(b.Payload),
		Size:        extent.BlockSize(len(b.Payload)),
		UserDataLen: len(b.UserData),
	}
	d.UserDataHex, d.userDataCut = hexPreview(b.UserData, userDataPreview)
	d.PayloadHex, d.payloadCut = hexPreview(b.Payload, payloadPreview)
	return d
}

// hexPreview returns the first n bytes of b in hex, and whether b is longer.
func hexPreview(b []byte, n int) (string, bool) {
	if len(b) > n {
		return hex.EncodeToString(b[:n]), true
	}
	return hex.EncodeToString(b), false
}

func writeDumpJSON(out io.Writer, r extent.Report, blocks []dumpBlock) error {
	doc := dumpJSON{
		Path:         r.Path,
		ExtentID:     r.Header.ExtentID,
		Version:      r.Header.Version,
		Size:         r.Size,
		Sealed:       r.Sealed,
		SealedLength: r.SealedLength,
		Blocks:       blocks,
		ValidEnd:     r.ValidEnd,
		Problem:      newProblemJSON(r.Problem),
	}
	if headerValid(r) {
		created := formatCreated(r.Header)
		doc.Created = &created
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

func formatCreated(h extent.Header) string {
	return time.Unix(0, h.CreatedNanos).UTC().Format(time.RFC3339Nano)
}

// textWriter keeps the first write error so that the text output reads
// as a list of prints.
type textWriter struct {
	out io.Writer
	err error
}

func (w *textWriter) printf(format string, args ...any) {
	if w.err == nil {
		_, w.err = fmt.Fprintf(w.out, format, args...)
	}
}

func writeDumpText(out io.Writer, r extent.Report, blocks []dumpBlock, showPayload bool) error {
	w := &textWriter{out: out}
	w.printf("path:       %s\n", r.Path)
	if headerValid(r) {
		w.printf("extent:     %d\n", r.Header.ExtentID)
		w.printf("version:    %d\n", r.Header.Version)
		w.printf("created:    %s\n", formatCreated(r.Header))
	} else {
		w.printf("header:     invalid\n")
	}
	w.printf("size:       %d\n", r.Size)
	writeSealedText(w, r)
	if len(blocks) > 0 {
		writeBlocksText(w, blocks, showPayload)
	}
	w.printf("blocks:     %d\n", r.Blocks)
	w.printf("valid end:  %d\n", r.ValidEnd)
	if r.Problem == nil {
		w.printf("problem:    none\n")
	} else {
		w.printf("problem:    %s\n", describeProblem(r.Problem))
	}
	return w.err
}

func writeSealedText(w *textWriter, r extent.Report) {
	if !r.Sealed {
		w.printf("sealed:     no\n")
		return
	}
	w.printf("sealed:     yes, at %d\n", r.SealedLength)
	if extra := pastSealed(r); extra > 0 {
		w.printf("            %d bytes past the sealed length, not checked (opening the extent cuts them)\n", extra)
	}
}

// Block table rows. The widths fit offsets of extents up to 1 TB and a
// full user-data preview with its ellipsis; the last column is not padded.
const (
	blockRowFormat        = "%12v %9v %9v %6v  %v\n"
	blockRowPayloadFormat = "%12v %9v %9v %6v  %-35v  %v\n"
)

func writeBlocksText(w *textWriter, blocks []dumpBlock, showPayload bool) {
	row := func(cells ...any) {
		if showPayload {
			w.printf(blockRowPayloadFormat, cells...)
		} else {
			w.printf(blockRowFormat, cells[:len(cells)-1]...)
		}
	}
	w.printf("\n")
	row("OFFSET", "PAYLOAD", "SIZE", "UDLEN", "USER-DATA", "PAYLOAD-HEX")
	for _, b := range blocks {
		row(b.Offset, b.PayloadLen, b.Size, b.UserDataLen,
			previewText(b.UserDataHex, b.userDataCut), previewText(b.PayloadHex, b.payloadCut))
	}
	w.printf("\n")
}

// previewText shows an empty preview as "-" and a cut one with "...".
func previewText(hexText string, cut bool) string {
	switch {
	case hexText == "":
		return "-"
	case cut:
		return hexText + "..."
	}
	return hexText
}
