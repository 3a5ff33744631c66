// Package nodebench owns the replication benchmark: three extent-nodes on
// this machine (real cmd/extent-node processes by default, or real
// node.Node servers inside the benchmark's process) and a client that keeps
// N synchronous AppendBlocks calls in flight against the primary of a fresh
// extent for a fixed time per workload. It reports ops/s, payload MiB/s and
// the p50/p99/p99.9/max latency from HdrHistograms, the nodes' own batch
// and fdatasync figures scraped from their /metrics, the disk's fio figures
// measured in the same directory, and the goals of the issue. Comparison
// rows measure snappy on the client and peer connections (on log-like and
// on random payloads) and the primary's pipelining (in-flight batches 1
// vs 4).
//
// Every node keeps its data in a fresh directory under Options.Dir that is
// removed at the end, on error and on cancellation alike; node processes
// are stopped before it goes.
package nodebench
