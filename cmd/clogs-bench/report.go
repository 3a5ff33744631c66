package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/clogs-io/clogs/internal/benchkit"
)

// Result is a run's summary. The JSON names are a contract for scripts.
type Result struct {
	RunID       string        `json:"run_id"`
	Handles     int           `json:"handles"`
	Files       int           `json:"files"`
	MsgType     string        `json:"msg_type"`
	MsgLen      int           `json:"msg_len"`
	Cards       bool          `json:"cards"`
	TargetTPS   int           `json:"target_tps"` // 0: as fast as possible
	Seconds     float64       `json:"seconds"`
	Sent        uint64        `json:"sent"`
	Errors      uint64        `json:"errors"`
	NoCollector uint64        `json:"no_collector"` // of errors, those with no live collector
	TPS         float64       `json:"tps"`          // lines sent per second, achieved
	Isolations  uint64        `json:"isolations"`
	Recoveries  uint64        `json:"recoveries"`
	FirstError  string        `json:"first_error,omitempty"` // a sample of the errors
	Interrupted bool          `json:"interrupted"`
	Verify      *VerifyResult `json:"verify,omitempty"`
}

// printResult writes the summary as a table, or as JSON.
func printResult(w io.Writer, r *Result, asJSON bool) error {
	if asJSON {
		return benchkit.WriteJSON(w, r)
	}
	return benchkit.WriteTable(w, func(out *strings.Builder) {
		target := "unpaced"
		if r.TargetTPS > 0 {
			target = fmt.Sprint(r.TargetTPS)
		}
		fmt.Fprintf(out, "clogs-bench run %s: %d handles, %d files, %d-byte lines of type %q, target TPS %s\n\n",
			r.RunID, r.Handles, r.Files, r.MsgLen, r.MsgType, target)
		rows := [][]string{
			{"sent", "errors", "no collector", "seconds", "TPS", "isolations", "recoveries"},
			{fmt.Sprint(r.Sent), fmt.Sprint(r.Errors), fmt.Sprint(r.NoCollector), fmt.Sprintf("%.2f", r.Seconds),
				fmt.Sprintf("%.0f", r.TPS), fmt.Sprint(r.Isolations), fmt.Sprint(r.Recoveries)},
		}
		benchkit.WriteAligned(out, rows)
		if r.FirstError != "" {
			fmt.Fprintf(out, "\nfirst error: %s\n", r.FirstError)
		}
		if r.Interrupted {
			out.WriteString("\ninterrupted before the end\n")
		}
		if v := r.Verify; v != nil {
			out.WriteString("\nverify:\n")
			benchkit.WriteAligned(out, [][]string{
				{"streams", "stored", "lost", "reordered", "duplicates", "unexpected", "unmasked", "other", "seconds"},
				{fmt.Sprint(v.Streams), fmt.Sprint(v.Stored), fmt.Sprint(v.Lost), fmt.Sprint(v.Reordered),
					fmt.Sprint(v.Duplicates), fmt.Sprint(v.Unexpected), fmt.Sprint(v.Unmasked), fmt.Sprint(v.Other),
					fmt.Sprintf("%.1f", v.Seconds)},
			})
			verdict := "every line stored, in order"
			if !v.clean() {
				verdict = "FAILED: lines lost, reordered or not masked"
			}
			fmt.Fprintf(out, "\n%s\n", verdict)
		}
	})
}
