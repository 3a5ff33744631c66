package main

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/clogs-io/clogs/clogs"
	"github.com/clogs-io/clogs/mask"
)

func TestMessageRoundTrip(t *testing.T) {
	for _, cards := range []bool{false, true} {
		for _, n := range []int{minMessageLen(cards), 100, 1000} {
			msg, err := newMessage("0a1b2c3d", n, cards)
			if err != nil {
				t.Fatal(err)
			}
			for _, seq := range []uint64{1, 42, maxSeq} {
				setSeq(msg, seq)
				run, got, ok := parseMessage(msg)
				if len(msg) != n || !ok || got != seq || string(run) != "0a1b2c3d" {
					t.Fatalf("len %d cards %v seq %d: %q parses as %q %d %v", n, cards, seq, msg, run, got, ok)
				}
			}
			if cards != bytes.Contains(msg, []byte(testCard)) {
				t.Fatalf("cards %v: %q", cards, msg)
			}
		}
	}
	for _, bad := range []string{"", "cb:0a1b2c3d:00000000x1", "xx:0a1b2c3d:0000000001", "cb:0a1b2c3d-0000000001", "cb:0a1b2c3d:00001"} {
		if _, _, ok := parseMessage([]byte(bad)); ok {
			t.Fatalf("%q parsed", bad)
		}
	}
}

// TestMaskingLeavesTheHeader: the collector's default masking changes
// the card number and nothing of the run ID or sequence number, whatever
// their digits.
func TestMaskingLeavesTheHeader(t *testing.T) {
	rules := mask.DefaultRules()
	msg, _ := newMessage("13912345", 80, true)
	for _, seq := range []uint64{1, 1391234567, 4111111111, maxSeq} {
		setSeq(msg, seq)
		out, _ := rules.Mask("bench", "txn", 0, msg)
		masked := string(out)
		want := strings.Replace(string(msg), testCard, maskedCard, 1)
		if masked != want {
			t.Fatalf("seq %d: masked %q, want %q", seq, masked, want)
		}
	}
}

// TestLineCounts: verify's counting of one file's stored lines.
func TestLineCounts(t *testing.T) {
	run := []byte("0a1b2c3d")
	c := &fileCheck{file: &benchFile{sent: 6}, seen: make([]uint64, 1)}
	msg, _ := newMessage(string(run), 60, true)
	masked := bytes.Replace(msg, []byte(testCard), []byte(maskedCard), 1)
	for _, seq := range []uint64{1, 2, 4, 3, 3, 6, 9} { // 5 lost, 3 late, 3 twice, 9 never sent
		setSeq(masked, seq)
		c.line(masked, run, true)
	}
	setSeq(msg, 5)
	c.line(msg, []byte("ffffffff"), true) // another run's
	c.line([]byte("not a bench line"), run, true)
	v := summarize([]*fileCheck{c}, 0)
	want := VerifyResult{Streams: 1, Stored: 5, Lost: 1, Reordered: 1, Duplicates: 1, Unexpected: 1, Other: 2}
	if *v != want {
		t.Fatalf("counts %+v, want %+v", *v, want)
	}
	setSeq(msg, 5)
	c.line(msg, run, true) // the card left as it was
	if v := summarize([]*fileCheck{c}, 0); v.Unmasked != 1 || v.Lost != 0 || v.clean() {
		t.Fatalf("an unmasked line: %+v", *v)
	}
}

func TestStreamName(t *testing.T) {
	if got := streamName("{sys}/{type}/{file}", "bench", "txn", "f000001"); got != "bench/txn/f000001" {
		t.Fatalf("stream name %q", got)
	}
}

// TestSendingDoesNotAllocate: the bench's own loop adds nothing to the
// sender's allocation-free send.
func TestSendingDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cfg := clogs.DefaultSenderConfig()
	cfg.HealthInterval = time.Hour
	cfg.Collectors = []clogs.CollectorConfig{{Addr: conn.LocalAddr().String()}}
	o := &options{handles: 1, tps: 0, msgLen: 200}
	files := []*benchFile{{name: "f000000"}, {name: "f000001"}}
	for _, f := range files {
		f.msg, _ = newMessage("0a1b2c3d", 200, false)
	}
	handles, err := openHandles(cfg, o, files)
	if err != nil {
		t.Fatal(err)
	}
	h := handles[0]
	defer h.sender.Close()
	allocs := testing.AllocsPerRun(100, func() { h.sendUpTo(h.tried+10, "bench", "txn") })
	if allocs != 0 || h.firstErr != nil {
		t.Fatalf("%v allocations per 10 lines (error %v)", allocs, h.firstErr)
	}
}
