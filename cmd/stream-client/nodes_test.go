package main

import (
	"strings"
	"testing"

	clogspb "github.com/clogs-io/clogs/proto"
)

func TestNodes(t *testing.T) {
	sm := startTestCluster(t, 3)
	stdout, stderr, code := runCLI(t, sm, "nodes")
	if code != exitOK {
		t.Fatalf("nodes: exit %d, %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "ID ADDR ALIVE HEARTBEAT DISKS" {
		t.Fatalf("nodes:\n%s", stdout)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 7 || f[2] != "true" || f[4] != "ago" || !strings.Contains(f[1], "127.0.0.1:") || !strings.Contains(l, "iB/") {
			t.Errorf("node row %q, want id, addr, true, age ago, disk free/total", l)
		}
	}

	stdout, _, code = runCLI(t, sm, "nodes", "--json")
	var resp clogspb.NodesInfoResponse
	decodeJSON(t, stdout, &resp)
	if code != exitOK || len(resp.Nodes) != 3 {
		t.Fatalf("nodes --json: exit %d, %v", code, &resp)
	}
	for _, n := range resp.Nodes {
		if !n.Alive || n.Node.GetAddr() == "" || len(n.Disks) != 1 || n.Disks[0].TotalBytes == 0 {
			t.Errorf("node %v, want alive with one disk", n)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0B", 1023: "1023B", 1024: "1.0KiB", 1536: "1.5KiB", 5 << 30: "5.0GiB"} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
