package extentbench

import "fmt"

// The goals of the extent engine on the 2-core reference machine.
const (
	// singleWriterBandwidthGoal: single-writer 64 KiB appends reach this
	// share of fio's 64 KiB write+fdatasync bandwidth.
	singleWriterBandwidthGoal = 0.85
	// groupCommitGoal: 64 concurrent 4 KiB appenders reach this multiple
	// of fio's 4 KiB write+fdatasync IOPS.
	groupCommitGoal = 5
	// sealedReadGoal: sealed extents read at least this fast (bytes/s).
	sealedReadGoal = 1 << 30
	// memoryGrowthGoal: the heap peak while reading an extent four times
	// larger stays below this multiple of the smaller one's.
	memoryGrowthGoal = 1.25
)

// The workloads the goals judge.
const (
	goalSingleWriterWorkload = "append 64 KiB x1"
	goalGroupCommitWorkload  = "append 4 KiB x64"
)

// Goal verdicts.
const (
	GoalMet    = "yes"
	GoalMissed = "no"
	GoalNA     = "n/a"
)

// Verdict is one goal checked against the measurements.
type Verdict struct {
	Workload    string  `json:"workload"`
	Description string  `json:"description"`
	Goal        string  `json:"goal"`     // short form, "≥0.85"
	Measured    float64 `json:"measured"` // what is compared with Threshold
	Threshold   float64 `json:"threshold"`
	AtMost      bool    `json:"at_most"` // Measured must not exceed Threshold
	Met         string  `json:"met"`     // GoalMet, GoalMissed or GoalNA
	Reason      string  `json:"reason,omitempty"`
}

// checkGoals judges the report's measurements.
func checkGoals(report *Report) []Verdict {
	return []Verdict{
		checkSingleWriterGoal(report.Appends, report.Fio),
		checkGroupCommitGoal(report.Appends, report.Fio),
		checkSealedReadGoal(report.Reads, report.ReadSize),
		checkMemoryGoal(report.Memory),
	}
}

func checkSingleWriterGoal(appends []AppendResult, fio FioBaseline) Verdict {
	v := Verdict{
		Workload:    goalSingleWriterWorkload,
		Description: "single-writer 64 KiB appends reach 85% of fio's 64k write+fdatasync bandwidth",
		Goal:        fmt.Sprintf("≥%.2f", singleWriterBandwidthGoal),
		Threshold:   singleWriterBandwidthGoal,
	}
	return judgeAppendRatio(v, appends, fio)
}

func checkGroupCommitGoal(appends []AppendResult, fio FioBaseline) Verdict {
	v := Verdict{
		Workload:    goalGroupCommitWorkload,
		Description: "64 concurrent 4 KiB appenders reach 5x fio's 4k write+fdatasync IOPS (group commit)",
		Goal:        fmt.Sprintf("≥%d", groupCommitGoal),
		Threshold:   groupCommitGoal,
	}
	return judgeAppendRatio(v, appends, fio)
}

// judgeAppendRatio fills in v from the ratio of v.Workload's result to
// its fio baseline.
func judgeAppendRatio(v Verdict, appends []AppendResult, fio FioBaseline) Verdict {
	for _, a := range appends {
		if a.Workload != v.Workload {
			continue
		}
		ratio, ok := appendRatio(a, fio)
		if !ok {
			return notApplicable(v, fio.Status)
		}
		return judge(v, ratio)
	}
	return notApplicable(v, "workload did not run")
}

// appendRatio is an append result over its fio baseline: ops/s over IOPS
// or payload bandwidth over fio's bandwidth.
func appendRatio(a AppendResult, fio FioBaseline) (float64, bool) {
	baseline, ok := fio.Result(a.FioBaseline)
	if !ok {
		return 0, false
	}
	if a.CompareIOPS {
		return ratioOf(a.OpsPerSec, baseline.IOPS)
	}
	return ratioOf(a.PayloadBytesPerSec, baseline.BandwidthBytes)
}

func ratioOf(value, baseline float64) (float64, bool) {
	if baseline <= 0 {
		return 0, false
	}
	return value / baseline, true
}

// checkSealedReadGoal judges the warm read of the read-size extent: the
// engine's own cost, which a cold read would hide behind the disk's.
func checkSealedReadGoal(reads []ReadResult, readSize uint64) Verdict {
	v := Verdict{
		Workload:    sealedReadWorkload(readSize),
		Description: "sequential reads of a sealed extent (page cache) reach 1 GiB/s",
		Goal:        "≥1 GiB/s",
		Threshold:   sealedReadGoal,
	}
	for _, read := range reads {
		if read.Workload == v.Workload {
			return judge(v, read.PayloadBytesPerSec)
		}
	}
	return notApplicable(v, "workload did not run")
}

func sealedReadWorkload(readSize uint64) string {
	return fmt.Sprintf("read sealed %s %s", FormatBytes(readSize), cacheWarm)
}

// checkMemoryGoal judges the heap peak of the large read against the
// small one's.
func checkMemoryGoal(m MemoryResult) Verdict {
	v := Verdict{
		Workload:    memoryWorkload(m),
		Description: "heap peak while reading does not grow with the extent size",
		Goal:        fmt.Sprintf("≤%.2f", memoryGrowthGoal),
		Threshold:   memoryGrowthGoal,
		AtMost:      true,
	}
	ratio, ok := ratioOf(float64(m.LargePeakHeapBytes), float64(m.SmallPeakHeapBytes))
	if !ok {
		return notApplicable(v, "no heap samples")
	}
	return judge(v, ratio)
}

func memoryWorkload(m MemoryResult) string {
	return fmt.Sprintf("heap peak, read %s vs %s", FormatBytes(m.LargeExtentBytes), FormatBytes(m.SmallExtentBytes))
}

func judge(v Verdict, measured float64) Verdict {
	v.Measured = measured
	met := measured >= v.Threshold
	if v.AtMost {
		met = measured <= v.Threshold
	}
	v.Met = GoalMissed
	if met {
		v.Met = GoalMet
	}
	return v
}

func notApplicable(v Verdict, reason string) Verdict {
	v.Met, v.Reason = GoalNA, reason
	return v
}
