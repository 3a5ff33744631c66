package clogs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseSenderConfig(t *testing.T) {
	cfg, err := ParseSenderConfig([]byte(`
collectors:
  - name: c1
    addr: 127.0.0.1:6000
    weight: 2
  - addr: 127.0.0.1:6001
health_interval: 250ms
failure_threshold: 5
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []CollectorConfig{{Name: "c1", Addr: "127.0.0.1:6000", Weight: 2}, {Addr: "127.0.0.1:6001"}}
	if len(cfg.Collectors) != 2 || cfg.Collectors[0] != want[0] || cfg.Collectors[1] != want[1] {
		t.Fatalf("collectors %+v, want %+v", cfg.Collectors, want)
	}
	if cfg.HealthInterval != 250*time.Millisecond || cfg.FailureThreshold != 5 {
		t.Fatalf("interval %v, threshold %d", cfg.HealthInterval, cfg.FailureThreshold)
	}
	if cfg.Collectors[1].ringName() != "127.0.0.1:6001" || cfg.Collectors[1].weight() != 1 {
		t.Fatalf("an unnamed collector of no weight is %q, weight %d", cfg.Collectors[1].ringName(), cfg.Collectors[1].weight())
	}
}

func TestParseSenderConfigDefaults(t *testing.T) {
	cfg, err := ParseSenderConfig([]byte("collectors:\n  - addr: localhost:6000\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HealthInterval != DefaultHealthInterval || cfg.FailureThreshold != DefaultFailureThreshold {
		t.Fatalf("interval %v, threshold %d: want the defaults", cfg.HealthInterval, cfg.FailureThreshold)
	}
}

// TestHealthIntervalInSeconds: a bare number is seconds, not nanoseconds.
func TestHealthIntervalInSeconds(t *testing.T) {
	for text, want := range map[string]time.Duration{"2": 2 * time.Second, "0.5": 500 * time.Millisecond, "1m": time.Minute} {
		cfg, err := ParseSenderConfig([]byte("collectors: [{addr: 'h:1'}]\nhealth_interval: " + text + "\n"))
		if err != nil || cfg.HealthInterval != want {
			t.Fatalf("health_interval %s: %v, %v; want %v", text, cfg.HealthInterval, err, want)
		}
	}
}

// TestBadSenderConfigs: each mistake is an ErrConfig whose text says what
// is wrong and where.
func TestBadSenderConfigs(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"empty", "", "empty"},
		{"no collectors", "health_interval: 1s\n", "no collectors"},
		{"not yaml", "collectors: [\n", "yaml"},
		{"unknown key", "collectors: [{addr: 'h:1'}]\nintervall: 1s\n", "field intervall not found"},
		{"unknown collector key", "collectors: [{adr: 'h:1'}]\n", "field adr not found"},
		{"no addr", "collectors: [{name: a}]\n", "collector 1 (a): addr is empty"},
		{"no port", "collectors: [{addr: localhost}]\n", `addr "localhost": want host:port`},
		{"bad port", "collectors: [{addr: 'h:70000'}]\n", `port "70000" is not 1-65535`},
		{"no host", "collectors: [{addr: ':6000'}]\n", "no host"},
		{"bad weight", "collectors: [{addr: 'h:1', weight: -1}]\n", "weight -1"},
		{"huge weight", "collectors: [{addr: 'h:1', weight: 101}]\n", "weight 101"},
		{"duplicate", "collectors: [{name: a, addr: 'h:1'}, {name: a, addr: 'h:2'}]\n", `collectors 1 and 2 are both named "a"`},
		{"bad interval", "collectors: [{addr: 'h:1'}]\nhealth_interval: soon\n", `"soon" is not a duration`},
		{"tiny interval", "collectors: [{addr: 'h:1'}]\nhealth_interval: 1us\n", "health_interval 1µs"},
		{"zero threshold", "collectors: [{addr: 'h:1'}]\nfailure_threshold: 0\n", "failure_threshold 0"},
		{"weight not a number", "collectors: [{addr: 'h:1', weight: heavy}]\n", "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSenderConfig([]byte(tc.yaml))
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrConfig saying %q", err, tc.want)
			}
		})
	}
}

func TestLoadSenderConfigNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "clogs.yaml")
	if err := os.WriteFile(path, []byte("collectors: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSenderConfig(path); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v, want ErrConfig naming %s", err, path)
	}
	if _, err := LoadSenderConfig(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("error %v, want not exist", err)
	}
}
