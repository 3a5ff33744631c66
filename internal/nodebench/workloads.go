package nodebench

import (
	"fmt"
	"slices"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/node"
)

// Payload kinds.
const (
	// PayloadRandom is incompressible: what a node sees when collectors
	// compress their blocks before appending.
	PayloadRandom = "random"
	// PayloadLogLike is uncompressed log lines (see LogLines).
	PayloadLogLike = "log-like"
)

// Row groups of the report.
const (
	groupDefault    = "default"
	groupSnappy     = "snappy"
	groupPipelining = "pipelining"
)

// settings is how the cluster and the client connect and pipeline. A
// workload whose settings differ from the running cluster's restarts it.
type settings struct {
	// clientCompression is the compressor of the benchmark client's
	// connection to the primary; peerCompression that of the primary's
	// connections to the secondaries.
	clientCompression string
	peerCompression   string
	// maxInflightBatches is the primary's pipeline depth.
	maxInflightBatches int
}

// defaultSettings are the node's and the connection pool's defaults.
func defaultSettings() settings {
	compression := conn.DefaultConfig().Compression
	return settings{
		clientCompression:  compression,
		peerCompression:    compression,
		maxInflightBatches: node.DefaultConfig().MaxInflightBatches,
	}
}

// nodeSettings is the part of settings the nodes are started with.
func (s settings) nodeSettings() settings {
	s.clientCompression = ""
	return s
}

// workload is one row: inFlight goroutines each doing synchronous appends
// of one block of payloadSize bytes.
type workload struct {
	name        string
	group       string
	payloadSize int
	inFlight    int
	payload     string // PayloadRandom or PayloadLogLike
	settings    settings
	// compareWith names the row this one is compared with, if any.
	compareWith string
}

// workloads returns the rows to run, in order. Rows compared with each
// other run back to back, so that they see the disk in a similar mood.
func workloads(withComparisons bool) []workload {
	base := defaultSettings()
	rows := []workload{
		{name: name4KiBx1, payloadSize: 4 << 10, inFlight: 1},
		{name: name4KiBx64, payloadSize: 4 << 10, inFlight: 64},
		{name: name64KiBx32, payloadSize: 64 << 10, inFlight: 32},
		{name: "1 MiB x8", payloadSize: 1 << 20, inFlight: 8},
	}
	for i := range rows {
		rows[i].group, rows[i].payload, rows[i].settings = groupDefault, PayloadRandom, base
	}
	if !withComparisons {
		return rows
	}
	rows = append(rows, snappyRows(base)...)
	return append(rows, pipeliningRows(base)...)
}

// snappyRows compare snappy on the client and peer connections with none,
// at 64 KiB x32, on log-like payloads (where it can win) and on random
// ones (where it can only cost).
func snappyRows(base settings) []workload {
	variants := []struct {
		label        string
		client, peer string
		payloads     []string
	}{
		{"snappy off", "", "", []string{PayloadLogLike, PayloadRandom}},
		{"snappy client only", conn.Snappy, "", []string{PayloadLogLike}},
		{"snappy peers only", "", conn.Snappy, []string{PayloadLogLike}},
		{"snappy client+peers", conn.Snappy, conn.Snappy, []string{PayloadLogLike, PayloadRandom}},
	}
	var rows []workload
	for _, payload := range []string{PayloadLogLike, PayloadRandom} {
		off := ""
		for _, v := range variants {
			if !slices.Contains(v.payloads, payload) {
				continue
			}
			s := base
			s.clientCompression, s.peerCompression = v.client, v.peer
			name := fmt.Sprintf("64 KiB x32 %s, %s", payload, v.label)
			rows = append(rows, workload{
				name: name, group: groupSnappy, payloadSize: 64 << 10, inFlight: 32,
				payload: payload, settings: s, compareWith: off,
			})
			if off == "" {
				off = name
			}
		}
	}
	return rows
}

// pipeliningRows compare one batch in flight on the primary with four.
func pipeliningRows(base settings) []workload {
	var rows []workload
	for _, shape := range []struct{ size, inFlight int }{{4 << 10, 64}, {64 << 10, 32}} {
		first := ""
		for _, batches := range []int{1, 4} {
			s := base
			s.maxInflightBatches = batches
			name := fmt.Sprintf("%s x%d, in-flight batches %d", formatSize(shape.size), shape.inFlight, batches)
			rows = append(rows, workload{
				name: name, group: groupPipelining, payloadSize: shape.size, inFlight: shape.inFlight,
				payload: PayloadRandom, settings: s, compareWith: first,
			})
			if first == "" {
				first = name
			}
		}
	}
	return rows
}

// formatSize renders a power-of-two payload size, "4 KiB".
func formatSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
