package nodebench

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// LogLines generates realistic, varied log lines, deterministically from
// a seed: a mix of HTTP access logs, logfmt application logs and JSON
// logs, with timestamps that move forward, levels, services, request and
// trace IDs, user and order IDs, amounts and latencies. Like real logs they
// repeat keys, paths and messages (what snappy finds) around IDs and
// numbers that do not repeat (what it cannot compress).
type LogLines struct {
	rng *rand.Rand
	now time.Time
}

// logEpoch is where generated timestamps start, so that output depends on
// the seed only.
var logEpoch = time.Date(2026, time.March, 2, 8, 0, 0, 0, time.UTC)

// NewLogLines returns a generator; the same seed yields the same lines.
func NewLogLines(seed uint64) *LogLines {
	return &LogLines{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: logEpoch}
}

// Fill returns exactly n bytes of lines, each ending in '\n'; the last
// line is cut short to fit.
func (g *LogLines) Fill(n int) []byte {
	buf := make([]byte, 0, n+512)
	for len(buf) < n {
		buf = g.AppendLine(buf)
	}
	buf = buf[:n]
	if n > 0 {
		buf[n-1] = '\n'
	}
	return buf
}

// AppendLine appends one line, with its '\n', to dst.
func (g *LogLines) AppendLine(dst []byte) []byte {
	g.now = g.now.Add(time.Duration(g.rng.IntN(40_000)) * time.Microsecond)
	switch r := g.rng.IntN(10); {
	case r < 4:
		return g.appendAccess(dst)
	case r < 8:
		return g.appendLogfmt(dst)
	default:
		return g.appendJSON(dst)
	}
}

var (
	httpMethods = []string{"GET", "GET", "GET", "POST", "POST", "PUT", "DELETE"}
	httpPaths   = []string{
		"/api/v1/orders/%s", "/api/v1/users/%d/profile", "/api/v1/payments/%s/capture",
		"/api/v1/cart/%d/items", "/healthz", "/api/v2/search?q=shoes&page=%d", "/static/js/app.%s.js",
	}
	httpStatuses = []int{200, 200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 404, 409, 500, 503}
	userAgents   = []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
		"okhttp/4.12.0", "curl/8.11.1", "Go-http-client/2.0",
	}
	levels   = []string{"info", "info", "info", "info", "debug", "debug", "warn", "error"}
	services = []string{"payments", "orders", "inventory", "auth", "checkout", "shipping", "notifications"}
	messages = []string{
		"payment captured", "payment authorized", "order created", "order shipped", "stock reserved",
		"stock low", "token refreshed", "login failed", "cache miss", "retrying upstream call",
		"upstream timeout", "email queued", "webhook delivered", "rate limit exceeded",
	}
	currencies = []string{"EUR", "EUR", "USD", "GBP", "CHF"}
	warehouses = []string{"fra-1", "fra-2", "ams-1", "dub-3", "waw-1"}
)

func (g *LogLines) pick(list []string) string { return list[g.rng.IntN(len(list))] }

// hexID returns n random hex digits.
func (g *LogLines) hexID(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.rng.IntN(16)]
	}
	return string(b)
}

func (g *LogLines) orderID() string {
	return fmt.Sprintf("ORD-%s-%06d", g.now.Format("20060102"), g.rng.IntN(1_000_000))
}

func (g *LogLines) amount() string {
	return strconv.FormatFloat(float64(g.rng.IntN(500_000))/100, 'f', 2, 64)
}

func (g *LogLines) path() string {
	switch format := g.pick(httpPaths); format {
	case "/healthz":
		return format
	case "/api/v1/orders/%s", "/api/v1/payments/%s/capture":
		return fmt.Sprintf(format, g.orderID())
	case "/static/js/app.%s.js":
		return fmt.Sprintf(format, g.hexID(8))
	default:
		return fmt.Sprintf(format, g.rng.IntN(100_000))
	}
}

// appendAccess appends an nginx-style access log line.
func (g *LogLines) appendAccess(dst []byte) []byte {
	ip := fmt.Sprintf("10.%d.%d.%d", g.rng.IntN(32), g.rng.IntN(256), 1+g.rng.IntN(254))
	return fmt.Appendf(dst, "%s - - [%s] \"%s %s HTTP/1.1\" %d %d \"-\" \"%s\" rt=%.3f req_id=%s\n",
		ip, g.now.Format("02/Jan/2006:15:04:05.000 -0700"), g.pick(httpMethods), g.path(),
		httpStatuses[g.rng.IntN(len(httpStatuses))], 100+g.rng.IntN(60_000), g.pick(userAgents),
		float64(g.rng.IntN(2_000))/1000, g.hexID(16))
}

// appendLogfmt appends a logfmt application log line.
func (g *LogLines) appendLogfmt(dst []byte) []byte {
	return fmt.Appendf(dst, "ts=%s level=%s service=%s msg=%q req_id=%s user_id=%d order_id=%s amount=%s currency=%s latency_ms=%d\n",
		g.now.Format(time.RFC3339Nano), g.pick(levels), g.pick(services), g.pick(messages), g.hexID(16),
		g.rng.IntN(1_000_000), g.orderID(), g.amount(), g.pick(currencies), g.rng.IntN(900))
}

// appendJSON appends a JSON log line.
func (g *LogLines) appendJSON(dst []byte) []byte {
	return fmt.Appendf(dst, `{"time":%q,"level":%q,"logger":"%s.worker","msg":%q,"sku":"SKU-%04d-%s","warehouse":%q,"qty":%d,"trace_id":%q,"span_id":%q}`+"\n",
		g.now.Format(time.RFC3339Nano), g.pick(levels), g.pick(services), g.pick(messages), g.rng.IntN(10_000),
		[]string{"S", "M", "L", "XL"}[g.rng.IntN(4)], g.pick(warehouses), g.rng.IntN(200), g.hexID(32), g.hexID(16))
}
