package udpin

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	valid := DefaultConfig()
	cases := []struct {
		name    string
		edit    func(*Config)
		wantErr string // empty: valid
	}{
		{"default", func(*Config) {}, ""},
		{"port zero", func(c *Config) { c.Addr = "127.0.0.1:0" }, ""},
		{"wildcard", func(c *Config) { c.Addr = ":6000" }, ""},
		{"system receive buffer", func(c *Config) { c.ReadBuffer = 0 }, ""},
		{"no port", func(c *Config) { c.Addr = "127.0.0.1" }, "addr"},
		{"empty addr", func(c *Config) { c.Addr = "" }, "addr"},
		{"no sockets", func(c *Config) { c.Sockets = 0 }, "sockets 0"},
		{"batch zero", func(c *Config) { c.BatchSize = 0 }, "batch size 0"},
		{"batch above UIO_MAXIOV", func(c *Config) { c.BatchSize = 1025 }, "batch size 1025"},
		{"datagram above limit", func(c *Config) { c.MaxDatagramSize = MaxDatagramSize + 1 }, "max datagram size"},
		{"negative buffer", func(c *Config) { c.ReadBuffer = -1 }, "read buffer -1"},
		{"arena too big", func(c *Config) { c.Sockets, c.BatchSize = 256, 1024 }, "sockets × batch size"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			tc.edit(&cfg)
			err := cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error about %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("Validate() = %v, want it to mention %q", err, tc.wantErr)
			}
		})
	}
}

func TestDefaultConfigSockets(t *testing.T) {
	if n := DefaultConfig().Sockets; n < 1 || n > 4 {
		t.Fatalf("default sockets = %d, want 1 to 4", n)
	}
}
