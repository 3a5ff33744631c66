package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestWbenchAndRbench(t *testing.T) {
	sm := startTestCluster(t, 3)
	stdout, stderr, code := runCLI(t, sm, "wbench", "--stream", "bench/t", "--size", "4096", "--inflight", "8", "--count", "200", "--json")
	if code != 0 {
		t.Fatalf("wbench exit %d: %s", code, stderr)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("wbench --json: %v\n%s", err, stdout)
	}
	for _, key := range []string{"ops", "ops_per_s", "mib_per_s", "p50_us", "p99_us", "p999_us", "max_us"} {
		if _, ok := res[key]; !ok {
			t.Fatalf("wbench --json lacks %q: %s", key, stdout)
		}
	}
	if res["ops"].(float64) != 200 || res["errors"].(float64) != 0 {
		t.Fatalf("wbench: %s", stdout)
	}
	stdout, stderr, code = runCLI(t, sm, "rbench", "--stream", "bench/t", "--json")
	if code != 0 {
		t.Fatalf("rbench exit %d: %s", code, stderr)
	}
	var scan RbenchResult
	if err := json.Unmarshal([]byte(stdout), &scan); err != nil || scan.Blocks != 200 || scan.PayloadBytes != 200*4096 {
		t.Fatalf("rbench read %+v (%v)", scan, err)
	}
	stdout, _, code = runCLI(t, sm, "wbench", "--stream", "bench/t", "--size", "100", "--count", "5")
	if code != 0 || !strings.Contains(stdout, "ops/s") {
		t.Fatalf("wbench table: exit %d\n%s", code, stdout)
	}
	if _, _, code := runCLI(t, sm, "wbench", "--size", "0"); code == 0 {
		t.Fatal("wbench --size 0 succeeded")
	}
}
