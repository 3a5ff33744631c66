package benchkit

import (
	"fmt"
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
// significant digits; slower operations count as a minute.
const (
	histogramMinMicros = 1
	histogramMaxMicros = int64(time.Minute / time.Microsecond)
	histogramDigits    = 3
)

// LatencyRecorder collects operation latencies of one goroutine.
type LatencyRecorder struct {
	histogram *hdrhistogram.Histogram
}

// NewLatencyRecorder returns an empty recorder.
func NewLatencyRecorder() *LatencyRecorder {
	return &LatencyRecorder{histogram: hdrhistogram.New(histogramMinMicros, histogramMaxMicros, histogramDigits)}
}

// Record adds one operation's latency.
func (r *LatencyRecorder) Record(took time.Duration) {
	micros := min(max(took.Microseconds(), histogramMinMicros), histogramMaxMicros)
	_ = r.histogram.RecordValue(micros) // in range by construction
}

// Merge adds other's latencies to r.
func (r *LatencyRecorder) Merge(other *LatencyRecorder) {
	r.histogram.Merge(other.histogram)
}

// Summary returns the median, the 99th and 99.9th percentiles and the
// maximum.
func (r *LatencyRecorder) Summary() Latency {
	micros := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return Latency{
		P50:  micros(r.histogram.ValueAtQuantile(50)),
		P99:  micros(r.histogram.ValueAtQuantile(99)),
		P999: micros(r.histogram.ValueAtQuantile(99.9)),
		Max:  micros(r.histogram.Max()),
	}
}

// FormatLatency renders a latency in milliseconds.
func FormatLatency(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}
