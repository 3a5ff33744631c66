// Package extentbench owns the extent engine benchmark: it runs fio on the
// bench directory for the disk's own figures (4 KiB and 64 KiB
// write+fdatasync, 1 MiB direct writes), runs the engine's workloads on
// fresh extents in the same directory (single-writer appends of 4 KiB,
// 64 KiB and 1 MiB, with and without preallocation; 16 and 64 concurrent
// 4 KiB appenders; sequential reads of sealed extents with the peak Go
// heap), checks the results against the engine's goals and renders them
// as a table or as JSON.
//
// Every workload runs for a bounded time in a temporary directory that is
// removed at the end, on error and on cancellation alike.
package extentbench
