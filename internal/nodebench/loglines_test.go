package nodebench

import (
	"bytes"
	"strings"
	"testing"
)

func TestLogLinesDeterministic(t *testing.T) {
	a, b := NewLogLines(42).Fill(64<<10), NewLogLines(42).Fill(64<<10)
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed gave different lines")
	}
	if bytes.Equal(a, NewLogLines(43).Fill(64<<10)) {
		t.Fatal("different seeds gave the same lines")
	}
}

func TestLogLinesFill(t *testing.T) {
	for _, n := range []int{1, 100, 4 << 10, 64 << 10, 1 << 20} {
		got := NewLogLines(1).Fill(n)
		if len(got) != n {
			t.Fatalf("Fill(%d) returned %d bytes", n, len(got))
		}
		if got[n-1] != '\n' {
			t.Fatalf("Fill(%d) does not end in a newline", n)
		}
	}
}

func TestLogLinesVaried(t *testing.T) {
	g := NewLogLines(7)
	seen := map[string]bool{}
	kinds := map[string]int{}
	for range 1000 {
		line := string(g.AppendLine(nil))
		if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
			t.Fatalf("not one line: %q", line)
		}
		seen[line] = true
		switch {
		case strings.HasPrefix(line, "{"):
			kinds["json"]++
		case strings.HasPrefix(line, "ts="):
			kinds["logfmt"]++
		case strings.Contains(line, "HTTP/1.1"):
			kinds["access"]++
		default:
			t.Fatalf("unknown line kind: %q", line)
		}
	}
	if len(seen) != 1000 {
		t.Errorf("%d distinct lines of 1000", len(seen))
	}
	for _, kind := range []string{"json", "logfmt", "access"} {
		if kinds[kind] < 100 {
			t.Errorf("only %d %s lines of 1000", kinds[kind], kind)
		}
	}
}

func TestLogLinesCompressLikeLogs(t *testing.T) {
	ratio := snappyRatio(makePayloads(PayloadLogLike, 64<<10, 1))
	if ratio < 1.5 || ratio > 6 {
		t.Errorf("log-like payloads compress %.2f:1; real logs compress about 2-5:1 with snappy", ratio)
	}
	if ratio := snappyRatio(makePayloads(PayloadRandom, 64<<10, 1)); ratio > 1.01 {
		t.Errorf("random payloads compress %.2f:1", ratio)
	}
}

func TestMakePayloadsDistinct(t *testing.T) {
	for _, kind := range []string{PayloadRandom, PayloadLogLike} {
		payloads := makePayloads(kind, 4<<10, 3)
		if len(payloads) != payloadVariants {
			t.Fatalf("%s: %d payloads", kind, len(payloads))
		}
		for i := 1; i < len(payloads); i++ {
			if len(payloads[i]) != 4<<10 || bytes.Equal(payloads[i], payloads[i-1]) {
				t.Fatalf("%s: payload %d is wrong or repeats", kind, i)
			}
		}
	}
}
