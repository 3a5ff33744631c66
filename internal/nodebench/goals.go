package nodebench

import (
	"fmt"
	"strings"
	"time"

	"github.com/clogs-io/clogs/internal/extentbench"
)

// The workloads the goals judge.
const (
	name4KiBx1   = "4 KiB x1"
	name4KiBx64  = "4 KiB x64"
	name64KiBx32 = "64 KiB x32"
)

// The goals of the issue: three replicas on this machine, fsync on.
const (
	// singleAppendP50Goal: one 4 KiB append in flight, median latency.
	singleAppendP50Goal = time.Millisecond
	// smallAppendRateGoal and smallAppendP99Goal: 4 KiB x64.
	smallAppendRateGoal = 30_000
	smallAppendP99Goal  = 10 * time.Millisecond
	// bandwidthGoal: 64 KiB x32, payload bytes per second.
	bandwidthGoal = 200 << 20
)

// checkGoals judges the default rows.
func checkGoals(results []WorkloadResult) []extentbench.Verdict {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return []extentbench.Verdict{
		judgeRow(results, extentbench.Verdict{
			Workload: name4KiBx1, Description: "one 4 KiB append in flight: p50 latency at most 1 ms",
			Goal: "p50 ≤1 ms", Threshold: ms(singleAppendP50Goal), AtMost: true,
		}, func(r WorkloadResult) float64 { return ms(r.Latency.P50) }),
		judgeRow(results, extentbench.Verdict{
			Workload: name4KiBx64, Description: "64 concurrent 4 KiB appends: at least 30,000 appends/s",
			Goal: "≥30000 op/s", Threshold: smallAppendRateGoal,
		}, func(r WorkloadResult) float64 { return r.OpsPerSec }),
		judgeRow(results, extentbench.Verdict{
			Workload: name4KiBx64, Description: "64 concurrent 4 KiB appends: p99 latency at most 10 ms",
			Goal: "p99 ≤10 ms", Threshold: ms(smallAppendP99Goal), AtMost: true,
		}, func(r WorkloadResult) float64 { return ms(r.Latency.P99) }),
		judgeRow(results, extentbench.Verdict{
			Workload: name64KiBx32, Description: "32 concurrent 64 KiB appends: at least 200 MiB/s of payload",
			Goal: "≥200 MiB/s", Threshold: bandwidthGoal,
		}, func(r WorkloadResult) float64 { return r.PayloadBytesPerSec }),
	}
}

// judgeRow judges v against measure of v.Workload's result.
func judgeRow(results []WorkloadResult, v extentbench.Verdict, measure func(WorkloadResult) float64) extentbench.Verdict {
	for _, r := range results {
		if r.Workload != v.Workload {
			continue
		}
		v.Measured = measure(r)
		met := v.Measured >= v.Threshold
		if v.AtMost {
			met = v.Measured <= v.Threshold
		}
		v.Met = extentbench.GoalMissed
		if met {
			v.Met = extentbench.GoalMet
		}
		return v
	}
	v.Met, v.Reason = extentbench.GoalNA, "workload did not run"
	return v
}

// rowGoal returns the goals of a workload and their verdict, for the
// table: "yes" when all are met, else the goals missed.
func rowGoal(goals []extentbench.Verdict, workload string) (goal, met string) {
	var texts, missed []string
	met = extentbench.GoalMet
	for _, v := range goals {
		if v.Workload != workload {
			continue
		}
		texts = append(texts, v.Goal)
		switch v.Met {
		case extentbench.GoalMissed:
			missed = append(missed, v.Goal)
		case extentbench.GoalNA:
			met = extentbench.GoalNA
		}
	}
	if len(texts) == 0 {
		return "-", "-"
	}
	if len(missed) > 0 {
		return strings.Join(texts, ", "), fmt.Sprintf("%s (%s)", extentbench.GoalMissed, strings.Join(missed, ", "))
	}
	return strings.Join(texts, ", "), met
}

// Comparison is one comparison row against the row it is compared with.
type Comparison struct {
	Workload string `json:"workload"`
	Baseline string `json:"baseline"`
	// ThroughputRatio is the workload's ops/s over the baseline's (the
	// same payload size, so also the MiB/s ratio); P99Ratio likewise.
	ThroughputRatio float64 `json:"throughput_ratio"`
	P99Ratio        float64 `json:"p99_ratio"`
}

// compare relates every comparison row to its baseline.
func compare(results []WorkloadResult) []Comparison {
	byName := map[string]WorkloadResult{}
	for _, r := range results {
		byName[r.Workload] = r
	}
	var out []Comparison
	for _, r := range results {
		base, ok := byName[r.ComparedWith]
		if r.ComparedWith == "" || !ok || base.OpsPerSec == 0 || base.Latency.P99 == 0 {
			continue
		}
		out = append(out, Comparison{
			Workload: r.Workload, Baseline: base.Workload,
			ThroughputRatio: r.OpsPerSec / base.OpsPerSec,
			P99Ratio:        float64(r.Latency.P99) / float64(base.Latency.P99),
		})
	}
	return out
}
