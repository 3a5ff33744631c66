package collector

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/clogs-io/clogs/mask"
)

// httpServer serves /metrics (Prometheus) and /status (JSON Stats).
type httpServer struct {
	addr string
	srv  *http.Server
	done chan struct{}
}

func startHTTP(c *Collector) (*httpServer, error) {
	ln, err := net.Listen("tcp", c.cfg.HTTP)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(c.metrics.registry, promhttp.HandlerOpts{Registry: c.metrics.registry}))
	mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(c.Stats())
	})
	h := &httpServer{addr: ln.Addr().String(), srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.lg.Error("http server")
		}
	}()
	return h, nil
}

func (h *httpServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := h.srv.Shutdown(ctx)
	<-h.done
	return err
}

// registerGauges exports what lives outside the metrics struct: the
// sockets' counters, the memory bound and the masking counters.
func (c *Collector) registerGauges() {
	intake := func(read func(s udpinStats) uint64) func() float64 {
		return func() float64 {
			var total uint64
			for _, st := range c.intakeStats() {
				total += read(st)
			}
			return float64(total)
		}
	}
	reg := c.metrics.registry
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "clogs_collector_kernel_drops_total",
			Help: "Datagrams the kernel dropped on our sockets because their receive buffers were full (SO_RXQ_OVFL)."},
			intake(func(s udpinStats) uint64 { return s.KernelDrops })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "clogs_collector_received_bytes_total",
			Help: "Bytes of the datagrams received on both listeners."},
			intake(func(s udpinStats) uint64 { return s.Bytes })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "clogs_collector_truncated_total",
			Help: "Datagrams longer than the receive buffer, dropped."},
			intake(func(s udpinStats) uint64 { return s.Truncated })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clogs_collector_buffered_bytes",
			Help: "Bytes of lines accepted and not yet stored (bounded by --max-buffered-bytes)."},
			func() float64 { return float64(c.buffered.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "clogs_collector_streams",
			Help: "Streams being written."},
			func() float64 { c.mu.Lock(); defer c.mu.Unlock(); return float64(len(c.sinks)) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "clogs_collector_iso8583_fallbacks_total",
			Help: "Messages of an ISO 8583 rule that did not parse and were masked with the text rules."},
			func() float64 { return float64(c.masked.ISO8583Fallbacks()) }),
	)
	for k := range mask.NumKinds {
		kind := mask.Kind(k)
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "clogs_collector_masked_total",
			Help: "Values masked, by kind.", ConstLabels: prometheus.Labels{"kind": kind.String()}},
			func() float64 { return float64(c.masked.Masked(kind)) }))
	}
}

// Stats is the collector's accounting, as /status shows it. Every log
// line received is in LinesStored, in Dropped, or still in Buffered.
type Stats struct {
	Datagrams     map[string]uint64 `json:"datagrams"` // "listener/kind"
	LinesStored   uint64            `json:"lines_stored"`
	BlocksStored  uint64            `json:"blocks_stored"`
	Dropped       map[string]uint64 `json:"dropped"` // by reason, zero reasons left out
	DroppedTotal  uint64            `json:"dropped_total"`
	KernelDrops   uint64            `json:"kernel_drops"`
	Truncated     uint64            `json:"truncated"`
	BufferedBytes int64             `json:"buffered_bytes"`
	Streams       int               `json:"streams"`
}

// Stats reads the collector's counters.
func (c *Collector) Stats() Stats {
	st := Stats{Datagrams: map[string]uint64{}, Dropped: map[string]uint64{}, BufferedBytes: c.buffered.Load()}
	families, _ := c.metrics.registry.Gather()
	for _, f := range families {
		for _, m := range f.GetMetric() {
			value := uint64(m.GetCounter().GetValue())
			switch f.GetName() {
			case "clogs_collector_datagrams_total":
				st.Datagrams[label(m, "listener")+"/"+label(m, "kind")] = value
			case "clogs_collector_dropped_total":
				if value > 0 {
					st.Dropped[label(m, "reason")] = value
					st.DroppedTotal += value
				}
			case "clogs_collector_lines_stored_total":
				st.LinesStored = value
			case "clogs_collector_blocks_appended_total":
				st.BlocksStored = value
			case "clogs_collector_kernel_drops_total":
				st.KernelDrops = value
			case "clogs_collector_truncated_total":
				st.Truncated = value
			case "clogs_collector_streams":
				st.Streams = int(m.GetGauge().GetValue())
			}
		}
	}
	return st
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
