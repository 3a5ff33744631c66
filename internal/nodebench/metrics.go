package nodebench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The node metrics the benchmark reads (see node/metrics.go).
const (
	metricBatches      = "clogs_node_batch_seconds_count"
	metricBatchSeconds = "clogs_node_batch_seconds_sum"
	metricBatchBytes   = "clogs_node_batch_bytes_sum"
	metricSyncs        = "clogs_node_fdatasync_seconds_count"
	metricSyncSeconds  = "clogs_node_fdatasync_seconds_sum"
	metricCPUSeconds   = "process_cpu_seconds_total"
)

var scrapedMetrics = []string{metricBatches, metricBatchSeconds, metricBatchBytes, metricSyncs, metricSyncSeconds, metricCPUSeconds}

// scrapeTimeout bounds one /metrics request.
const scrapeTimeout = 5 * time.Second

// nodeSample is one node's counters at one moment: metric name to the sum
// of its series.
type nodeSample map[string]float64

// scrapeAll reads every node's counters.
func scrapeAll(ctx context.Context, addrs []string) ([]nodeSample, error) {
	samples := make([]nodeSample, len(addrs))
	for i, addr := range addrs {
		s, err := scrape(ctx, addr)
		if err != nil {
			return nil, err
		}
		samples[i] = s
	}
	return samples, nil
}

func scrape(ctx context.Context, addr string) (nodeSample, error) {
	ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", addr, resp.Status)
	}
	return parseMetrics(resp.Body, scrapedMetrics)
}

// parseMetrics sums, for each wanted name, the values of its series in
// Prometheus' text format. Comments, other metrics and unparsable lines
// are skipped.
func parseMetrics(r io.Reader, wanted []string) (nodeSample, error) {
	sample := nodeSample{}
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64<<10), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, value, ok := parseMetricLine(line)
		if ok && slices.Contains(wanted, name) {
			sample[name] += value
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read metrics: %w", err)
	}
	return sample, nil
}

// parseMetricLine splits `name{labels} value [timestamp]`.
func parseMetricLine(line string) (name string, value float64, ok bool) {
	name = line
	if i := strings.IndexAny(line, "{ "); i >= 0 {
		name = line[:i]
	}
	rest := line[len(name):]
	if strings.HasPrefix(rest, "{") {
		end := strings.LastIndexByte(rest, '}')
		if end < 0 {
			return "", 0, false
		}
		rest = rest[end+1:]
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", 0, false
	}
	value, err := strconv.ParseFloat(fields[0], 64)
	return name, value, err == nil
}
