package benchkit

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes report as one indented JSON object.
func WriteJSON(w io.Writer, report any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(report); err != nil {
		return fmt.Errorf("write JSON report: %w", err)
	}
	return nil
}

// WriteTable renders a report's text with render and writes it to w in
// one piece.
func WriteTable(w io.Writer, render func(out *strings.Builder)) error {
	var out strings.Builder
	render(&out)
	if _, err := io.WriteString(w, out.String()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// WriteAligned writes rows as columns separated by " | ".
func WriteAligned(out *strings.Builder, rows [][]string) {
	tw := tabwriter.NewWriter(out, 0, 0, 1, ' ', tabwriter.Debug)
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, " \t "))
	}
	tw.Flush()
}

// WriteList writes items as a list under title after an empty line, or
// nothing if there are none.
func WriteList(out *strings.Builder, title string, items []string) {
	if len(items) == 0 {
		return
	}
	fmt.Fprintf(out, "\n%s:\n", title)
	for _, item := range items {
		fmt.Fprintf(out, "  - %s\n", item)
	}
}

// Report is a benchmark's report, printed as a table or as JSON.
type Report interface {
	WriteJSON(w io.Writer) error
	WriteTable(w io.Writer) error
}

// Print writes report to w as JSON if asJSON, else as a table.
func Print(w io.Writer, report Report, asJSON bool) error {
	if asJSON {
		return report.WriteJSON(w)
	}
	return report.WriteTable(w)
}
