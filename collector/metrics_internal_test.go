package collector

import (
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestLinesByTypeAreBounded: past maxTypeLabels (sys, type) pairs, new
// pairs are counted under other/other, so senders cannot grow the label
// set without limit.
func TestLinesByTypeAreBounded(t *testing.T) {
	m := newMetrics()
	for i := range maxTypeLabels + 50 {
		m.received([]byte(fmt.Sprintf("sys%d", i)), []byte("t"))
	}
	m.received([]byte("sys0"), []byte("t"))
	families, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "clogs_collector_lines_received_total" && len(f.GetMetric()) != maxTypeLabels+1 {
			t.Fatalf("%d label pairs, want %d and other", len(f.GetMetric()), maxTypeLabels)
		}
	}
	if got := counterValue(t, m.otherTypes); got != 50 {
		t.Fatalf("other counted %v lines, want 50", got)
	}
	if got := counterValue(t, m.linesByType.WithLabelValues("sys0", "t")); got != 2 {
		t.Fatalf("sys0/t counted %v, want 2", got)
	}
}
