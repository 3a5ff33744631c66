package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/logblock"
	"github.com/clogs-io/clogs/streamclient"
)

// TestCatLogs: cat --logs prints each line of the log blocks once (a
// block stored twice by a retry shows once), skips a raw block with a
// note on stderr, and --json gives one object a line with the contract's
// keys.
func TestCatLogs(t *testing.T) {
	sm := startTestCluster(t, 3)
	cfg := streamclient.DefaultConfig()
	cfg.Managers = []string{sm}
	cl, err := streamclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := cl.OpenSharedWriter(ctx, "app/logs")
	if err != nil {
		t.Fatal(err)
	}
	writer := [16]byte{7}
	at := time.Date(2026, 11, 22, 5, 54, 38, 0, time.UTC).UnixNano()
	block := func(seq uint64, msgs ...string) extent.Block {
		var b logblock.Builder
		for i, m := range msgs {
			r := logblock.Record{ReceivedNanos: at + int64(i), Source: []byte("127.0.0.1:5555"), SysID: []byte("app"),
				MsgType: []byte("txn"), FileName: []byte("pay.log"), Message: []byte(m)}
			if err := b.Add(r); err != nil {
				t.Fatal(err)
			}
		}
		payload, userData, err := b.Finish(writer, seq)
		if err != nil {
			t.Fatal(err)
		}
		return extent.Block{Payload: payload, UserData: userData}
	}
	first, second := block(1, "one", "two"), block(2, "three")
	for _, b := range []extent.Block{first, first, {Payload: []byte("raw bytes")}, second} {
		if _, err := w.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, code := runCLI(t, sm, "cat", "--logs", "app/logs")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[0], " one") || !strings.HasSuffix(lines[2], " three") ||
		!strings.Contains(lines[0], "127.0.0.1:5555 app/txn/pay.log") || !strings.HasPrefix(lines[0], "2026-11-22T05:54:38") {
		t.Fatalf("cat --logs printed %q", out)
	}
	if !strings.Contains(stderr, "not a log block") {
		t.Fatalf("no note of the raw block on stderr: %q", stderr)
	}
	out, _, code = runCLI(t, sm, "cat", "--json", "app/logs")
	if code != 0 {
		t.Fatalf("cat --json exit %d", code)
	}
	var msgs []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var rec map[string]string
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		for _, key := range []string{"time", "source", "sys", "type", "file", "msg"} {
			if rec[key] == "" {
				t.Fatalf("line %q has no %s", line, key)
			}
		}
		msgs = append(msgs, rec["msg"])
	}
	if strings.Join(msgs, ",") != "one,two,three" {
		t.Fatalf("cat --json messages %v", msgs)
	}
}

func TestLineFilter(t *testing.T) {
	now := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	rec := func(at time.Time, msg string) logblock.Record {
		return logblock.Record{ReceivedNanos: at.UnixNano(), Message: []byte(msg)}
	}
	cases := []struct {
		since, grep string
		rec         logblock.Record
		keep        bool
	}{
		{"", "", rec(now.Add(-time.Hour), "x"), true},
		{"15m", "", rec(now.Add(-10*time.Minute), "x"), true},
		{"15m", "", rec(now.Add(-20*time.Minute), "x"), false},
		{"2026-11-22T05:50:00Z", "", rec(now.Add(-5*time.Minute), "x"), true},
		{"2026-11-22T05:50:00Z", "", rec(now.Add(-15*time.Minute), "x"), false},
		{"", "refund|chargeback", rec(now, "card refund ok"), true},
		{"", "refund|chargeback", rec(now, "card paid"), false},
		{"5m", "paid", rec(now.Add(-time.Minute), "card paid"), true},
	}
	for _, c := range cases {
		f, err := newLineFilter(c.since, c.grep, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.keeps(c.rec); got != c.keep {
			t.Errorf("since %q grep %q, line %q at %v: keep = %v, want %v", c.since, c.grep, c.rec.Message, time.Unix(0, c.rec.ReceivedNanos).UTC(), got, c.keep)
		}
	}
	for _, bad := range [][2]string{{"yesterday", ""}, {"-5m", ""}, {"", "a("}} {
		if _, err := newLineFilter(bad[0], bad[1], now); err == nil {
			t.Errorf("since %q grep %q accepted", bad[0], bad[1])
		}
	}
}
