package nodebench

import (
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latency is a latency distribution's summary.
type Latency struct {
	P50  time.Duration `json:"p50_ns"`
	P99  time.Duration `json:"p99_ns"`
	P999 time.Duration `json:"p99_9_ns"`
	Max  time.Duration `json:"max_ns"`
}

// The histograms record microseconds from 1 µs to a minute, to three
// significant digits; slower calls count as a minute.
const (
	histogramMinMicros = 1
	histogramMaxMicros = int64(time.Minute / time.Microsecond)
	histogramDigits    = 3
)

// latencyRecorder collects call latencies of one goroutine.
type latencyRecorder struct {
	histogram *hdrhistogram.Histogram
}

func newLatencyRecorder() *latencyRecorder {
	return &latencyRecorder{histogram: hdrhistogram.New(histogramMinMicros, histogramMaxMicros, histogramDigits)}
}

// record adds one call's latency.
func (r *latencyRecorder) record(took time.Duration) {
	micros := min(max(took.Microseconds(), histogramMinMicros), histogramMaxMicros)
	_ = r.histogram.RecordValue(micros) // in range by construction
}

// merge adds other's latencies to r.
func (r *latencyRecorder) merge(other *latencyRecorder) {
	r.histogram.Merge(other.histogram)
}

func (r *latencyRecorder) summary() Latency {
	micros := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Latency{
		P50:  micros(r.histogram.ValueAtQuantile(50)),
		P99:  micros(r.histogram.ValueAtQuantile(99)),
		P999: micros(r.histogram.ValueAtQuantile(99.9)),
		Max:  micros(r.histogram.Max()),
	}
}
