package clogs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"
)

// Defaults and limits of a sender's configuration.
const (
	// DefaultHealthInterval is how often each collector is pinged.
	DefaultHealthInterval = 5 * time.Second
	// DefaultFailureThreshold is how many checks in a row must fail before
	// a collector is isolated.
	DefaultFailureThreshold = 3
	// MaxWeight bounds a collector's weight, and so the ring's size.
	MaxWeight = 100
	// MaxCollectors bounds the collectors of one sender.
	MaxCollectors = 1000
	// minHealthInterval keeps a typo ("5" read as 5 ms) from turning the
	// health checks into a flood.
	minHealthInterval = time.Millisecond
)

// ErrConfig matches every configuration error. Test with errors.Is.
var ErrConfig = errors.New("clogs: bad sender config")

// CollectorConfig is one collector a sender may send to.
type CollectorConfig struct {
	// Name identifies the collector on the hash ring, so that moving it to
	// another address moves no file. Empty means Addr.
	Name string `yaml:"name"`
	// Addr is the collector's clogs UDP address, host:port.
	Addr string `yaml:"addr"`
	// Weight scales the collector's share of files; 0 means 1.
	Weight int `yaml:"weight"`
}

// SenderConfig configures a Sender. The YAML file mirrors it:
//
//	collectors:
//	  - name: c1                # optional; defaults to addr
//	    addr: 127.0.0.1:6000
//	    weight: 2               # optional; defaults to 1
//	  - addr: 127.0.0.1:6001
//	health_interval: 5s         # optional; a Go duration, or seconds
//	failure_threshold: 3        # optional
type SenderConfig struct {
	Collectors []CollectorConfig
	// HealthInterval is the time between two pings of a collector; a
	// pong must arrive within it for the check to pass.
	HealthInterval time.Duration
	// FailureThreshold is how many checks in a row must fail before a
	// collector is isolated.
	FailureThreshold int
	// Logger logs isolations and recoveries; nil logs nothing.
	Logger *zap.Logger
}

// DefaultSenderConfig returns a configuration with the default health
// checks and no collectors.
func DefaultSenderConfig() SenderConfig {
	return SenderConfig{HealthInterval: DefaultHealthInterval, FailureThreshold: DefaultFailureThreshold}
}

// Validate checks the configuration; every problem is reported, each
// naming the collector it concerns. The errors match ErrConfig.
func (c SenderConfig) Validate() error {
	var errs []error
	if len(c.Collectors) == 0 {
		errs = append(errs, errors.New("no collectors"))
	}
	if len(c.Collectors) > MaxCollectors {
		errs = append(errs, fmt.Errorf("%d collectors: at most %d", len(c.Collectors), MaxCollectors))
	}
	names := map[string]int{}
	for i, col := range c.Collectors {
		name := col.ringName()
		if j, dup := names[name]; dup && name != "" {
			errs = append(errs, fmt.Errorf("collectors %d and %d are both named %q", j+1, i+1, name))
		}
		names[name] = i
		if err := col.validate(); err != nil {
			errs = append(errs, fmt.Errorf("collector %d (%s): %w", i+1, name, err))
		}
	}
	if c.HealthInterval < minHealthInterval {
		errs = append(errs, fmt.Errorf("health_interval %v: want at least %v", c.HealthInterval, minHealthInterval))
	}
	if c.FailureThreshold < 1 {
		errs = append(errs, fmt.Errorf("failure_threshold %d: want at least 1", c.FailureThreshold))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// ringName is the name the collector has on the hash ring.
func (c CollectorConfig) ringName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Addr
}

// weight is the collector's weight, 0 read as 1.
func (c CollectorConfig) weight() int {
	if c.Weight == 0 {
		return 1
	}
	return c.Weight
}

func (c CollectorConfig) validate() error {
	if c.Addr == "" {
		return errors.New("addr is empty")
	}
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("addr %q: want host:port", c.Addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("addr %q: port %q is not 1-65535", c.Addr, port)
	}
	if host == "" {
		return fmt.Errorf("addr %q: no host", c.Addr)
	}
	if c.Weight < 0 || c.Weight > MaxWeight {
		return fmt.Errorf("weight %d: want 1-%d (omit for 1)", c.Weight, MaxWeight)
	}
	return nil
}

// configFile is the YAML form of SenderConfig.
type configFile struct {
	Collectors       []CollectorConfig `yaml:"collectors"`
	HealthInterval   *yamlDuration     `yaml:"health_interval"`
	FailureThreshold *int              `yaml:"failure_threshold"`
}

// yamlDuration reads "5s", "250ms" (Go durations) or a bare number of
// seconds ("5", "0.5"): a bare number read as nanoseconds would be a trap.
type yamlDuration time.Duration

func (d *yamlDuration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration like 5s", n.Line)
	}
	if seconds, err := strconv.ParseFloat(n.Value, 64); err == nil {
		*d = yamlDuration(seconds * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 5s or 500ms", n.Line, n.Value)
	}
	*d = yamlDuration(v)
	return nil
}

// ParseSenderConfig reads a YAML sender configuration, fills in the
// defaults and validates it. Unknown keys are errors, so that a typo does
// not silently leave a default in place. The errors match ErrConfig.
func ParseSenderConfig(data []byte) (SenderConfig, error) {
	var f configFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return SenderConfig{}, fmt.Errorf("%w: the file is empty", ErrConfig)
		}
		return SenderConfig{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	cfg := DefaultSenderConfig()
	cfg.Collectors = f.Collectors
	if f.HealthInterval != nil {
		cfg.HealthInterval = time.Duration(*f.HealthInterval)
	}
	if f.FailureThreshold != nil {
		cfg.FailureThreshold = *f.FailureThreshold
	}
	if err := cfg.Validate(); err != nil {
		return SenderConfig{}, err
	}
	return cfg, nil
}

// LoadSenderConfig reads and validates the YAML sender configuration at
// path. Its errors name the file.
func LoadSenderConfig(path string) (SenderConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return SenderConfig{}, fmt.Errorf("sender config: %w", err)
	}
	cfg, err := ParseSenderConfig(data)
	if err != nil {
		return SenderConfig{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
