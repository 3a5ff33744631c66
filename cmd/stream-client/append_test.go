package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// writeTemp writes data to a new file and returns its path.
func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

var summaryPattern = regexp.MustCompile(`^appended (\d+) blocks, (\d+) bytes to (\S+): first (\d+:\d+), last (\d+:\d+)\n$`)

// appendSummary checks append's stderr and returns its first and last
// addresses.
func appendSummary(t *testing.T, stderr, name string, blocks, bytes int) (first, last string) {
	t.Helper()
	m := summaryPattern.FindStringSubmatch(stderr)
	if m == nil || m[1] != strconv.Itoa(blocks) || m[2] != strconv.Itoa(bytes) || m[3] != name {
		t.Fatalf("append summary %q, want %d blocks, %d bytes to %s", stderr, blocks, bytes, name)
	}
	return m[4], m[5]
}

func TestAppendCatRoundTrip(t *testing.T) {
	sm := startTestCluster(t, 3)
	data := randomBytes(t, 5<<20+123)
	stdout, stderr, code := runCLI(t, sm, "append", "--block-size", "65536", "rt", writeTemp(t, data))
	if code != exitOK || stdout != "" {
		t.Fatalf("append: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	appendSummary(t, stderr, "rt", 81, len(data))

	stdout, stderr, code = runCLI(t, sm, "cat", "rt")
	if code != exitOK || stderr != "" {
		t.Fatalf("cat: exit %d, stderr %q", code, stderr)
	}
	if !bytes.Equal([]byte(stdout), data) {
		t.Fatalf("cat gave %d bytes, not the %d appended", len(stdout), len(data))
	}

	// A second append, from stdin and with the default block size; --from
	// its first address gives exactly it, and cat all of both.
	more := randomBytes(t, 3<<20+7)
	var out, errOut bytes.Buffer
	code = runCLIContext(context.Background(), sm, bytes.NewReader(more), &out, &errOut, "append", "rt")
	if code != exitOK {
		t.Fatalf("append from stdin: exit %d, %s", code, errOut.String())
	}
	first, _ := appendSummary(t, errOut.String(), "rt", 4, len(more))

	stdout, _, code = runCLI(t, sm, "cat", "--from", first, "rt")
	if code != exitOK || !bytes.Equal([]byte(stdout), more) {
		t.Fatalf("cat --from %s: exit %d, %d bytes, want the %d of the second append", first, code, len(stdout), len(more))
	}
	stdout, _, code = runCLI(t, sm, "cat", "rt")
	if code != exitOK || !bytes.Equal([]byte(stdout), append(data, more...)) {
		t.Fatalf("cat after two appends: exit %d, %d bytes", code, len(stdout))
	}

	// An empty input appends nothing and creates the stream.
	out.Reset()
	errOut.Reset()
	code = runCLIContext(context.Background(), sm, bytes.NewReader(nil), &out, &errOut, "append", "empty", "-")
	if code != exitOK || errOut.String() != "appended 0 blocks, 0 bytes to empty\n" {
		t.Fatalf("empty append: exit %d, stderr %q", code, errOut.String())
	}
	if stdout, stderr, code := runCLI(t, sm, "cat", "empty"); code != exitOK || stdout != "" {
		t.Fatalf("cat empty: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	if _, stderr, code := runCLI(t, sm, "append", "rt", filepath.Join(t.TempDir(), "missing")); code != exitFailure || stderr == "" {
		t.Fatalf("append of a missing file: exit %d, stderr %q", code, stderr)
	}
}

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// waitOutput waits until out holds want.
func waitOutput(t *testing.T, out *syncBuffer, want []byte) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !bytes.Equal(out.Bytes(), want) {
		if got := out.Bytes(); len(got) > len(want) || !bytes.Equal(got, want[:len(got)]) || time.Now().After(deadline) {
			t.Fatalf("cat --follow printed %d bytes, want the %d appended", len(got), len(want))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startFollow runs cat --follow in the background; wait returns its exit
// code and stderr.
func startFollow(ctx context.Context, sm string, args ...string) (out *syncBuffer, wait func() (int, string)) {
	out = &syncBuffer{}
	errOut := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- runCLIContext(ctx, sm, nil, out, errOut, append([]string{"cat", "--follow"}, args...)...)
	}()
	return out, func() (int, string) {
		select {
		case code := <-done:
			return code, string(errOut.Bytes())
		case <-time.After(20 * time.Second):
			return -1, "cat --follow did not end in 20s"
		}
	}
}

func TestCatFollow(t *testing.T) {
	sm := startTestCluster(t, 3)
	first := randomBytes(t, 100_000)
	if _, stderr, code := runCLI(t, sm, "append", "--block-size", "4096", "f", writeTemp(t, first)); code != exitOK {
		t.Fatalf("append: %s", stderr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, wait := startFollow(ctx, sm, "f")
	waitOutput(t, out, first)

	// Blocks appended while it follows, by later writers (each seals the
	// tail and moves to a new extent), all arrive in order.
	want := first
	for i := range 3 {
		more := randomBytes(t, 10_000*(i+1))
		if _, stderr, code := runCLI(t, sm, "append", "--block-size", "3000", "f", writeTemp(t, more)); code != exitOK {
			t.Fatalf("append %d: %s", i, stderr)
		}
		want = append(want, more...)
		waitOutput(t, out, want)
	}
	cancel()
	if code, stderr := wait(); code != exitOK || stderr != "" {
		t.Fatalf("cat --follow after cancel: exit %d, stderr %q", code, stderr)
	}
}

// SIGINT and SIGTERM end cat --follow cleanly, with exit code 0.
func TestCatFollowSignals(t *testing.T) {
	sm := startTestCluster(t, 3)
	data := randomBytes(t, 5000)
	if _, stderr, code := runCLI(t, sm, "append", "s", writeTemp(t, data)); code != exitOK {
		t.Fatalf("append: %s", stderr)
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		out, wait := startFollow(context.Background(), sm, "s")
		// Output shows the command runs, so its signal handler is set.
		waitOutput(t, out, data)
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		if code, stderr := wait(); code != exitOK || stderr != "" {
			t.Fatalf("cat --follow after %v: exit %d, stderr %q", sig, code, stderr)
		}
	}
}

// TestMaxExtentSizeRollsOver: with --max-extent-size the writer moves to
// a new extent whenever the next block would not fit, and the data still
// reads back whole.
func TestMaxExtentSizeRollsOver(t *testing.T) {
	sm := startTestCluster(t, 3)
	data := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640,000 bytes
	var out, errOut bytes.Buffer
	code := runCLIContext(context.Background(), sm, bytes.NewReader(data), &out, &errOut,
		"--max-extent-size", "256KiB", "append", "rolls", "--block-size", "100000")
	if code != 0 {
		t.Fatalf("append: exit %d, %s", code, errOut.String())
	}
	info, _, _ := runCLI(t, sm, "info", "rolls", "--json")
	if n := len(regexp.MustCompile(`"sealed":\s*true`).FindAllString(info, -1)); n < 2 {
		t.Fatalf("%d sealed extents after 640,000 bytes in extents of 256 KiB:\n%s", n, info)
	}
	got, _, code := runCLI(t, sm, "cat", "rolls")
	if code != 0 || got != string(data) {
		t.Fatalf("cat: exit %d, %d bytes, want the %d appended", code, len(got), len(data))
	}
	if _, stderr, code := runCLI(t, sm, "--max-extent-size", "lots", "ls"); code == 0 || !strings.Contains(stderr, "max-extent-size") {
		t.Fatalf("--max-extent-size lots: exit %d, %s", code, stderr)
	}
}
