// Package benchkit owns the pieces the benchmarks (internal/extentbench
// and internal/nodebench, run by cmd/extent-bench and cmd/node-bench)
// share: latency histograms and their summaries, the progress lines on
// stderr, the temporary bench directories and their cleanup, the
// rendering of reports as aligned tables or JSON, and the commands' main.
package benchkit
