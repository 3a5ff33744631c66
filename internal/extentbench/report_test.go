package extentbench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clogs-io/clogs/internal/benchkit"
)

// sampleFio is a baseline as fio reports it on a slow disk.
func sampleFio() FioBaseline {
	return FioBaseline{Status: FioOK, Results: map[string]FioResult{
		FioWrite4KSync:  {Job: FioWrite4KSync, Label: "fio 4k write+fdatasync", BandwidthBytes: 4 << 20, IOPS: 1000},
		FioWrite64KSync: {Job: FioWrite64KSync, Label: "fio 64k write+fdatasync", BandwidthBytes: 140 << 20, IOPS: 2240},
		FioWrite1MDir:   {Job: FioWrite1MDir, Label: "fio 1m direct write", BandwidthBytes: 500 << 20, IOPS: 500},
	}}
}

// sampleReport has one result per kind of row.
func sampleReport(fio FioBaseline) *Report {
	r := &Report{
		ReadSize: 1 << 30,
		Fio:      fio,
		Appends: []AppendResult{
			{Workload: "append 64 KiB x1", FioBaseline: FioWrite64KSync, OpsPerSec: 1974.4, PayloadBytesPerSec: 123.4 * (1 << 20), Latency: benchkit.Latency{P50: 450 * time.Microsecond}},
			{Workload: "append 4 KiB x64", FioBaseline: FioWrite4KSync, CompareIOPS: true, OpsPerSec: 4000, PayloadBytesPerSec: 4000 * 4096},
		},
		Reads: []ReadResult{
			{Workload: "read sealed 1 GiB warm", Cache: cacheWarm, ExtentBytes: 1 << 30, PayloadBytesPerSec: 2.5 * (1 << 30)},
		},
		Memory: MemoryResult{SmallExtentBytes: 256 << 20, SmallPeakHeapBytes: 8 << 20, LargeExtentBytes: 1 << 30, LargePeakHeapBytes: 9 << 20},
		Notes:  []string{"a note"},
	}
	r.Goals = checkGoals(r)
	return r
}

func TestGoals(t *testing.T) {
	got := map[string]Verdict{}
	for _, v := range checkGoals(sampleReport(sampleFio())) {
		got[v.Workload] = v
	}
	want := map[string]string{
		"append 64 KiB x1":                 GoalMet,    // 123.4 / 140 = 0.88
		"append 4 KiB x64":                 GoalMissed, // 4000 / 1000 = 4
		"read sealed 1 GiB warm":           GoalMet,
		"heap peak, read 1 GiB vs 256 MiB": GoalMet, // 9 / 8 = 1.125
	}
	for workload, met := range want {
		if got[workload].Met != met {
			t.Errorf("%s: met %q (%+v), want %q", workload, got[workload].Met, got[workload], met)
		}
	}
	if ratio := got["append 4 KiB x64"].Measured; ratio != 4 {
		t.Errorf("group commit ratio %v, want 4", ratio)
	}
}

func TestGoalsWithoutFio(t *testing.T) {
	for _, v := range checkGoals(sampleReport(FioBaseline{Status: FioMissing})) {
		if strings.HasPrefix(v.Workload, "append") && (v.Met != GoalNA || v.Reason != FioMissing) {
			t.Errorf("%s: %+v, want n/a because fio is missing", v.Workload, v)
		}
	}
}

func TestMemoryGoalMissedWhenHeapGrows(t *testing.T) {
	v := checkMemoryGoal(MemoryResult{SmallPeakHeapBytes: 8 << 20, LargePeakHeapBytes: 32 << 20})
	if v.Met != GoalMissed || v.Measured != 4 {
		t.Errorf("got %+v, want missed at 4", v)
	}
	if v := checkMemoryGoal(MemoryResult{}); v.Met != GoalNA {
		t.Errorf("no samples: got %+v, want n/a", v)
	}
}

func TestWriteTable(t *testing.T) {
	var out bytes.Buffer
	if err := sampleReport(sampleFio()).WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"append 64 KiB x1 | 123.4 MiB/s (1974 op/s) | fio 64k write+fdatasync 140.0 MiB/s | 0.88  | ≥0.85    | yes",
		"append 4 KiB x64 | 4000 op/s (15.6 MiB/s)  | fio 4k write+fdatasync 1000 IOPS    | 4.00  | ≥5       | no",
		"read sealed 1 GiB warm           | 2.50 GiB/s",
		"| 9.0 MiB vs 8.0 MiB",
		"append 64 KiB x1 | 0.450 ms",
		"  - a note",
	} {
		if !strings.Contains(normalizeSpaces(out.String()), normalizeSpaces(want)) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

func TestWriteTableWithoutFio(t *testing.T) {
	var out bytes.Buffer
	if err := sampleReport(FioBaseline{Status: FioMissing}).WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	want := "append 64 KiB x1 | 123.4 MiB/s (1974 op/s) | fio missing | - | ≥0.85 | n/a"
	if !strings.Contains(normalizeSpaces(out.String()), want) {
		t.Errorf("table lacks %q:\n%s", want, out.String())
	}
}

// normalizeSpaces collapses runs of spaces, so that tests do not depend
// on column widths.
func normalizeSpaces(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
}

func TestWriteJSON(t *testing.T) {
	var out bytes.Buffer
	if err := sampleReport(sampleFio()).WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Fio   struct{ Status string }
		Goals []struct{ Workload, Met string }
	}
	if err := json.Unmarshal(out.Bytes(), &decoded); err != nil {
		t.Fatalf("%v:\n%s", err, out.String())
	}
	if decoded.Fio.Status != FioOK || len(decoded.Goals) != 4 || decoded.Goals[0].Met != GoalMet {
		t.Errorf("decoded %+v", decoded)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{
		"4096": 4096, "256MiB": 256 << 20, "1GiB": 1 << 30, "1 GiB": 1 << 30, "512M": 512 << 20, "8KiB": 8 << 10, "2B": 2,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "1.5GiB", "1GB", "-1MiB", "99999999999TiB"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for in, want := range map[uint64]string{0: "0 B", 1 << 30: "1 GiB", 256 << 20: "256 MiB", 1536: "1.5 KiB"} {
		if got := FormatBytes(in); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := DefaultOptions().Validate(); err != nil {
		t.Errorf("default options: %v", err)
	}
	bad := DefaultOptions()
	bad.ReadSize = 1 << 20
	if err := bad.Validate(); err == nil {
		t.Error("a 1 MiB read size passed validation")
	}
}
