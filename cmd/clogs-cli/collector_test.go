package main

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/clogs-io/clogs/collector"
	"github.com/clogs-io/clogs/internal/testcluster"
	"github.com/clogs-io/clogs/logblock"
	"github.com/clogs-io/clogs/streamclient"
)

// TestAgainstRealCollector: lines sent by the command line and by batch
// mode are stored by a real collector in a real cluster, masked, in
// their streams ({sys}/{file}), in order. The two runs write different
// files: the collector keeps the order of each sender's socket, not
// across two processes (their sockets may be read by different intake
// goroutines).
func TestAgainstRealCollector(t *testing.T) {
	sm := testcluster.StartManager(t, testcluster.ManagerConfig(t))
	testcluster.StartNodes(t, 3, testcluster.NodeConfig(nil, sm.Addr()))
	testcluster.WaitAlive(t, sm.Addr(), 3)
	cfg := collector.DefaultConfig()
	cfg.Listen, cfg.Syslog, cfg.HTTP = "127.0.0.1:0", "", ""
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.Client.Managers = []string{sm.Addr()}
	col, err := collector.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	conf := writeConfig(t, col.Addr().String())

	if stdout, stderr, code := runCLI(t, "", "-c", conf, "-r", "2", "-i", "0.01", "core", "txn", "pay.log", "card", "4111111111111111"); code != 0 {
		t.Fatalf("command line: exit %d: %s%s", code, stdout, stderr)
	}
	batch := "core txn batch.log third line\nweb - access.log GET /index.html\ncore txn batch.log fourth line\n"
	if stdout, stderr, code := runCLI(t, batch, "-c", conf); code != 0 {
		t.Fatalf("batch: exit %d: %s%s", code, stdout, stderr)
	}

	want := map[string][]string{
		"core/pay.log":   {"card 411111******1111", "card 411111******1111"},
		"core/batch.log": {"third line", "fourth line"},
		"web/access.log": {"GET /index.html"},
	}
	deadline := time.Now().Add(20 * time.Second)
	for name, lines := range want {
		for {
			got := readMessages(t, sm.Addr(), name)
			if slices.Equal(got, lines) {
				break
			}
			if len(got) > len(lines) || time.Now().After(deadline) {
				t.Fatalf("stream %s holds %q, want %q", name, got, lines)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// readMessages reads the messages stored in stream name, each block once;
// a stream not created yet holds none.
func readMessages(t *testing.T, smAddr, name string) []string {
	t.Helper()
	cfg := streamclient.DefaultConfig()
	cfg.Managers = []string{smAddr}
	cl, err := streamclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := cl.OpenReader(ctx, name, streamclient.Address{}, false)
	if err != nil {
		return nil
	}
	var dedup logblock.Dedup
	var out []string
	for {
		blocks, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			records, h, err := logblock.Decode(b.Payload, b.UserData)
			if err != nil {
				t.Fatalf("block at %v: %v", b.Address, err)
			}
			if dedup.Repeat(h) {
				continue
			}
			for _, rec := range records {
				out = append(out, string(rec.Message))
			}
		}
	}
}
