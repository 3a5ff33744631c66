package benchkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestLatencyRecorder(t *testing.T) {
	a, b := NewLatencyRecorder(), NewLatencyRecorder()
	for i := 1; i <= 99; i++ {
		a.Record(time.Millisecond)
	}
	b.Record(2 * time.Hour) // beyond the histogram: counts as its maximum
	a.Merge(b)
	got := a.Summary()
	if got.P50 != time.Millisecond || got.P999 < 59*time.Second || got.Max < 59*time.Second {
		t.Errorf("summary %+v, want p50 1ms, p99.9 and max about a minute", got)
	}
}

func TestLatencyJSONFieldNames(t *testing.T) {
	out, err := json.Marshal(Latency{P50: 1, P99: 2, P999: 3, Max: 4})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"p50_ns":1,"p99_ns":2,"p99_9_ns":3,"max_ns":4}`; string(out) != want {
		t.Errorf("JSON %s, want %s", out, want)
	}
}

func TestFormatLatency(t *testing.T) {
	if got := FormatLatency(1500 * time.Microsecond); got != "1.500 ms" {
		t.Errorf("FormatLatency(1.5ms) = %q", got)
	}
}

func TestProgress(t *testing.T) {
	var out bytes.Buffer
	p := NewProgress("some-bench", &out)
	p.Start("step one", time.Second)
	p.Finish("/tmp/x", errors.New("cancelled"))
	want := regexp.MustCompile(`^some-bench \[ +0s\] step one \(1s\)\nsome-bench \[ +0s\] stopped; removing /tmp/x\n$`)
	if !want.MatchString(out.String()) {
		t.Errorf("progress lines:\n%s", out.String())
	}
	NewProgress("quiet", nil).Note("goes nowhere")
}

func TestBenchDirCleanupRemovesWhatItCreated(t *testing.T) {
	root := t.TempDir()
	parent := filepath.Join(root, "data", "bench")
	dir, cleanup, err := MakeBenchDir(parent, "some-bench-")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(dir) != parent || !strings.HasPrefix(filepath.Base(dir), "some-bench-") {
		t.Errorf("bench directory %s, want some-bench-* under %s", dir, parent)
	}
	if err := os.WriteFile(filepath.Join(dir, "extent"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "data")); !os.IsNotExist(err) {
		t.Errorf("%s/data still there after cleanup (stat: %v)", root, err)
	}
}

func TestBenchDirCleanupKeepsOthersFiles(t *testing.T) {
	parent := t.TempDir()
	if err := os.WriteFile(filepath.Join(parent, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, cleanup, err := MakeBenchDir(parent, "some-bench-")
	if err != nil {
		t.Fatal(err)
	}
	if err := cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(parent, "keep")); err != nil {
		t.Errorf("a file that was there before is gone: %v", err)
	}
}

func TestWriteTable(t *testing.T) {
	var out bytes.Buffer
	err := WriteTable(&out, func(b *strings.Builder) {
		WriteAligned(b, [][]string{{"workload", "p50"}, {"4 KiB x1", "0.100 ms"}})
		WriteList(b, "notes", []string{"one", "two"})
		WriteList(b, "empty", nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "workload  | p50\n4 KiB x1  | 0.100 ms\n\nnotes:\n  - one\n  - two\n"
	if out.String() != want {
		t.Errorf("table\n%q, want\n%q", out.String(), want)
	}
}

func TestWriteJSON(t *testing.T) {
	var out bytes.Buffer
	if err := WriteJSON(&out, map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"a\": 1\n}\n"; out.String() != want {
		t.Errorf("JSON %q, want %q", out.String(), want)
	}
}

// textReport writes which way it was asked to print.
type textReport struct{}

func (textReport) WriteJSON(w io.Writer) error {
	_, err := io.WriteString(w, "json")
	return err
}

func (textReport) WriteTable(w io.Writer) error {
	_, err := io.WriteString(w, "table")
	return err
}

func TestPrint(t *testing.T) {
	for asJSON, want := range map[bool]string{true: "json", false: "table"} {
		var out bytes.Buffer
		if err := Print(&out, textReport{}, asJSON); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Errorf("Print(asJSON=%v) wrote %q, want %q", asJSON, out.String(), want)
		}
	}
}
