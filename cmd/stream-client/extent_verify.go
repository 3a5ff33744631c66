package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/clogs-io/clogs/extent"
)

// kindIDMismatch: the file is named for another extent than its header's.
const kindIDMismatch = "id_mismatch"

// Verify statuses, one per file.
const (
	statusOK      = "ok"
	statusInvalid = "invalid"
	statusError   = "error" // the file could not be read
)

type extentVerifyOptions struct {
	json bool
}

func newExtentVerifyCmd() *cobra.Command {
	opts := &extentVerifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify FILE...",
		Short: "Check extent files: header, sealed state, every block",
		Long: `Check each extent file without changing it: the header, the sealed state
and every block's checksum (up to the sealed length when sealed). A file
named like an extent file (16 hex digits and ".extent") must also carry that
extent ID in its header.

One line per file:
  ok: PATH: extent ID, N blocks, sealed at L
  invalid: PATH: PROBLEM        (torn tail, corruption or ID mismatch)
  error: PATH: ERROR            (the file could not be read)

Exit code: 0 when every file is ok; 2 when any file is invalid (even if
others could not be read); 1 when a file could not be read and none is
invalid, or on a usage error.

With --json it prints one JSON document:
  {"files": [{"path", "status": "ok"|"invalid"|"error", "extent_id",
    "blocks", "size", "sealed", "sealed_length", "valid_end",
    "problem": {"kind": "torn_tail"|"corruption"|"id_mismatch", "offset",
    "message"} or null, "error" (only with status "error")}]}`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExtentVerify(cmd.OutOrStdout(), args, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON document")
	return cmd
}

// verifyResult is one file's outcome; it is also its --json form.
type verifyResult struct {
	Path         string       `json:"path"`
	Status       string       `json:"status"`
	ExtentID     uint64       `json:"extent_id"`
	Blocks       int          `json:"blocks"`
	Size         uint64       `json:"size"`
	Sealed       bool         `json:"sealed"`
	SealedLength uint64       `json:"sealed_length"`
	ValidEnd     uint64       `json:"valid_end"`
	Problem      *problemJSON `json:"problem"`
	Error        string       `json:"error,omitempty"`

	report extent.Report
}

type verifyJSON struct {
	Files []verifyResult `json:"files"`
}

func runExtentVerify(out io.Writer, paths []string, opts *extentVerifyOptions) error {
	results := make([]verifyResult, 0, len(paths))
	for _, path := range paths {
		res := verifyFile(path)
		results = append(results, res)
		if !opts.json {
			// Printed as it goes: a disk of extents takes a while.
			if _, err := fmt.Fprintln(out, verifyLine(res)); err != nil {
				return err
			}
		}
	}
	if opts.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(verifyJSON{Files: results}); err != nil {
			return err
		}
	}
	return verifySummary(results)
}

// verifyFile inspects one file and judges it.
func verifyFile(path string) verifyResult {
	res := verifyResult{Path: path}
	r, err := extent.Inspect(nil, path, nil)
	if err != nil {
		res.Status, res.Error = statusError, err.Error()
		return res
	}
	res.report = r
	res.ExtentID = r.Header.ExtentID
	res.Blocks, res.Size, res.ValidEnd = r.Blocks, r.Size, r.ValidEnd
	res.Sealed, res.SealedLength = r.Sealed, r.SealedLength
	res.Status = statusOK
	if r.Problem != nil {
		res.Status, res.Problem = statusInvalid, newProblemJSON(r.Problem)
	} else if msg := idMismatch(path, r.Header.ExtentID); msg != "" {
		res.Status = statusInvalid
		res.Problem = &problemJSON{Kind: kindIDMismatch, Offset: 0, Message: msg}
	}
	return res
}

// idMismatch describes a file named for another extent than its header
// says, or returns "" when the name is not an extent file name or agrees.
func idMismatch(path string, headerID uint64) string {
	nameID, ok := extent.ParseFileName(filepath.Base(path))
	if !ok || nameID == headerID {
		return ""
	}
	return fmt.Sprintf("file name says extent %d, the header says extent %d", nameID, headerID)
}

// verifyLine is the text line for one file.
func verifyLine(res verifyResult) string {
	switch res.Status {
	case statusError:
		return fmt.Sprintf("error: %s: %s", res.Path, res.Error)
	case statusInvalid:
		msg := res.Problem.Message
		if res.report.Problem != nil {
			msg = describeProblem(res.report.Problem)
		}
		return fmt.Sprintf("invalid: %s: %s", res.Path, msg)
	}
	r := res.report
	line := fmt.Sprintf("ok: %s: extent %d, %d blocks, ", res.Path, r.Header.ExtentID, r.Blocks)
	if !r.Sealed {
		return line + fmt.Sprintf("not sealed, valid end %d", r.ValidEnd)
	}
	line += fmt.Sprintf("sealed at %d", r.SealedLength)
	if extra := pastSealed(r); extra > 0 {
		line += fmt.Sprintf(" (%d bytes past it, which opening the extent cuts)", extra)
	}
	return line
}

// verifySummary is the command's error: nil when every file is ok.
func verifySummary(results []verifyResult) error {
	var invalid, unreadable int
	for _, res := range results {
		switch res.Status {
		case statusInvalid:
			invalid++
		case statusError:
			unreadable++
		}
	}
	var parts []string
	if invalid > 0 {
		parts = append(parts, fmt.Sprintf("%d invalid", invalid))
	}
	if unreadable > 0 {
		parts = append(parts, fmt.Sprintf("%d could not be read", unreadable))
	}
	if len(parts) == 0 {
		return nil
	}
	files := "files"
	if len(results) == 1 {
		files = "file"
	}
	err := fmt.Errorf("%d extent %s checked: %s", len(results), files, strings.Join(parts, ", "))
	if invalid > 0 {
		return &exitError{code: exitInvalid, err: err}
	}
	return err
}
