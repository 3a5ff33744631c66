package main

import (
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	clogspb "github.com/clogs-io/clogs/proto"
)

// decodeJSON decodes stdout, one JSON object, into m.
func decodeJSON(t *testing.T, stdout string, m proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal([]byte(stdout), m); err != nil {
		t.Fatalf("not one JSON object of %T: %v\n%s", m, err, stdout)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func TestCreateLsInfo(t *testing.T) {
	sm := startTestCluster(t, 3)

	stdout, stderr, code := runCLI(t, sm, "create", "app/web.log")
	if code != exitOK {
		t.Fatalf("create: exit %d, stderr %q", code, stderr)
	}
	id, name, ok := strings.Cut(strings.TrimSpace(stdout), " ")
	if !ok || id == "" || name != "app/web.log" {
		t.Fatalf("create printed %q, want ID and name", stdout)
	}
	// Creating again shows the same stream.
	stdout, _, code = runCLI(t, sm, "create", "--json", "app/web.log")
	var created clogspb.StreamResponse
	decodeJSON(t, stdout, &created)
	if code != exitOK || created.GetStream().GetName() != "app/web.log" || id != itoa(created.GetStream().GetId()) {
		t.Fatalf("create --json again: exit %d, %v; want stream %s", code, &created, id)
	}
	if _, _, code := runCLI(t, sm, "create", "other"); code != exitOK {
		t.Fatalf("create other: exit %d", code)
	}

	stdout, _, code = runCLI(t, sm, "ls")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != exitOK || len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("ls: exit %d\n%s", code, stdout)
	}
	if f := strings.Fields(lines[1]); len(f) != 3 || f[0] != id || f[1] != "app/web.log" {
		t.Errorf("ls row %q, want %s app/web.log EXTENTS", lines[1], id)
	}
	stdout, _, code = runCLI(t, sm, "ls", "--json")
	var list clogspb.ListStreamsResponse
	decodeJSON(t, stdout, &list)
	if code != exitOK || len(list.Streams) != 2 || list.Streams[0].GetName() != "app/web.log" || list.Streams[1].GetName() != "other" {
		t.Fatalf("ls --json: exit %d, %v", code, &list)
	}

	// Give the stream sealed and open extents.
	if _, stderr, code := runCLI(t, sm, "append", "app/web.log", writeTemp(t, []byte("hello"))); code != exitOK {
		t.Fatalf("append: exit %d, %s", code, stderr)
	}
	stdout, _, code = runCLI(t, sm, "info", "--json", "app/web.log")
	var info clogspb.StreamResponse
	decodeJSON(t, stdout, &info)
	if code != exitOK || info.GetStream().GetName() != "app/web.log" || len(info.Extents) == 0 {
		t.Fatalf("info --json: exit %d, %v", code, &info)
	}
	tail := info.Extents[len(info.Extents)-1]
	if tail.Sealed || len(tail.Replicas) != 3 {
		t.Fatalf("tail extent %v, want open with 3 replicas", tail)
	}

	stdout, _, code = runCLI(t, sm, "info", "app/web.log")
	if code != exitOK || !strings.Contains(stdout, "stream "+id+" app/web.log") {
		t.Fatalf("info: exit %d\n%s", code, stdout)
	}
	rows := strings.Split(strings.TrimSpace(stdout[strings.Index(stdout, "EXTENT"):]), "\n")[1:]
	if len(rows) != len(info.Extents) {
		t.Fatalf("info shows %d extents, want %d\n%s", len(rows), len(info.Extents), stdout)
	}
	for i, e := range info.Extents {
		f := strings.Fields(rows[i])
		want := []string{itoa(e.Id), "open", "-", "replicated"}
		if e.Sealed {
			want = []string{itoa(e.Id), "sealed", itoa(e.SealedLength), "replicated"}
		}
		for _, r := range e.Replicas {
			want = append(want, itoa(r.NodeId)+"@"+r.Addr)
		}
		if strings.Join(f, " ") != strings.Join(want, " ") {
			t.Errorf("info row %q, want %q", rows[i], strings.Join(want, " "))
		}
	}
}

func TestStreamErrors(t *testing.T) {
	sm := startTestCluster(t, 3)
	for _, args := range [][]string{
		{"info", "no-such-stream"},
		{"info", "--json", "no-such-stream"},
		{"cat", "no-such-stream"},
		{"cat", "--follow", "no-such-stream"},
	} {
		stdout, stderr, code := runCLI(t, sm, args...)
		if code != exitFailure || stdout != "" {
			t.Errorf("%q: exit %d, stdout %q", args, code, stdout)
		}
		if strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, `stream "no-such-stream" not found`) {
			t.Errorf("%q: stderr %q, want one line naming the stream", args, stderr)
		}
	}
	for _, args := range [][]string{
		{"create", "bad name"},
		{"create", strings.Repeat("x", 256)},
		{"info", "a*b"},
		{"append", "", "/dev/null"},
		{"cat", "a b"},
	} {
		stdout, stderr, code := runCLI(t, sm, args...)
		if code != exitFailure || stdout != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "bad stream name") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	// Nothing was created by the bad names.
	stdout, _, _ := runCLI(t, sm, "ls")
	if strings.Count(stdout, "\n") != 1 {
		t.Errorf("ls after errors:\n%s", stdout)
	}
}

func TestStreamUsageErrors(t *testing.T) {
	// Checked before any call: no cluster needed.
	sm := "127.0.0.1:1"
	for _, args := range [][]string{
		{"create"},
		{"create", "a", "b"},
		{"ls", "x"},
		{"info"},
		{"nodes", "x"},
		{"append"},
		{"append", "a", "b", "c"},
		{"append", "--block-size", "0", "a"},
		{"append", "--block-size", "33554433", "a"},
		{"cat"},
		{"cat", "--from", "x", "a"},
		{"cat", "--from", "0:0", "a"},
		{"cat", "--from", "1:", "a"},
	} {
		stdout, stderr, code := runCLI(t, sm, args...)
		if code != exitFailure || stdout != "" || !strings.Contains(stderr, "--help' for usage") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
	}
	if _, stderr, code := runCLI(t, " , ", "ls"); code != exitFailure || !strings.Contains(stderr, "no stream manager address") {
		t.Errorf("empty --sm: exit %d, stderr %q", code, stderr)
	}
}

// TestRetentionPolicy: create --max-age/--max-bytes sets a new stream's
// policy, info shows it, policy changes and clears it; bad values are
// usage errors.
func TestRetentionPolicy(t *testing.T) {
	sm := startTestCluster(t, 3)
	out, stderr, code := runCLI(t, sm, "create", "app/kept", "--max-age", "24h", "--max-bytes", "10GiB")
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), " app/kept") {
		t.Fatalf("create: exit %d, %q: %s", code, out, stderr)
	}
	info, _, _ := runCLI(t, sm, "info", "app/kept")
	if !strings.Contains(info, "policy max-age 24h0m0s, max-bytes 10GiB") {
		t.Fatalf("info after create:\n%s", info)
	}
	out, stderr, code = runCLI(t, sm, "policy", "app/kept", "--max-bytes", "1MiB")
	if code != 0 || strings.TrimSpace(out) != "app/kept: max-bytes 1MiB" {
		t.Fatalf("policy: exit %d, %q %s", code, out, stderr)
	}
	out, stderr, code = runCLI(t, sm, "policy", "app/kept", "--ec", "2+1", "--ec-after", "1h")
	if code != 0 || strings.TrimSpace(out) != "app/kept: ec 2+1 after 1h0m0s" {
		t.Fatalf("policy --ec: exit %d, %q %s", code, out, stderr)
	}
	out, stderr, code = runCLI(t, sm, "policy", "app/kept", "--ec", "auto")
	if code != 0 || strings.TrimSpace(out) != "app/kept: ec 2+1 after 0s" {
		t.Fatalf("policy --ec auto on three nodes: exit %d, %q %s", code, out, stderr)
	}
	if _, stderr, code := runCLI(t, sm, "policy", "app/kept", "--ec", "4+2"); code == 0 || !strings.Contains(stderr, "live nodes") {
		t.Fatalf("--ec 4+2 on three nodes: exit %d, %s", code, stderr)
	}
	if _, stderr, code := runCLI(t, sm, "policy", "app/kept", "--ec", "4-2"); code == 0 || !strings.Contains(stderr, "--ec") {
		t.Fatalf("--ec 4-2: exit %d, %s", code, stderr)
	}
	out, _, code = runCLI(t, sm, "policy", "app/kept")
	if code != 0 || strings.TrimSpace(out) != "app/kept: keep everything" {
		t.Fatalf("policy cleared: exit %d, %q", code, out)
	}
	if _, stderr, code := runCLI(t, sm, "policy", "app/kept", "--max-age", "1.5s"); code == 0 || !strings.Contains(stderr, "--max-age 1.5s") {
		t.Fatalf("--max-age 1.5s: exit %d, %s", code, stderr)
	}
	if _, stderr, code := runCLI(t, sm, "policy", "app/missing"); code == 0 || !strings.Contains(stderr, "not found") {
		t.Fatalf("policy of a missing stream: exit %d, %s", code, stderr)
	}
}
