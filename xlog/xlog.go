// Package xlog builds the structured loggers clogs components use. It wraps
// zap (which etcd brings anyway). Loggers are passed in, never global; a nil
// *zap.Logger given to a component means "log nothing" (see OrNop).
package xlog

import (
	"fmt"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Config says how to build a logger.
type Config struct {
	// Level is one of debug, info, warn, error.
	Level string
	// Format is "console" (human) or "json".
	Format string
}

// DefaultConfig logs at info level in the console format to stderr.
func DefaultConfig() Config { return Config{Level: "info", Format: "console"} }

// Validate checks the level and format.
func (c Config) Validate() error {
	if _, err := zapcore.ParseLevel(c.Level); err != nil {
		return fmt.Errorf("xlog: level %q: %w", c.Level, err)
	}
	switch c.Format {
	case "console", "json":
		return nil
	}
	return fmt.Errorf("xlog: format %q: want console or json", c.Format)
}

// New builds a logger writing to stderr.
func New(c Config) (*zap.Logger, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	level, _ := zapcore.ParseLevel(c.Level)
	zc := zap.NewProductionConfig()
	if strings.EqualFold(c.Format, "console") {
		zc = zap.NewDevelopmentConfig()
		zc.Development = false
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.Sampling = nil
	zc.OutputPaths = []string{"stderr"}
	zc.ErrorOutputPaths = []string{"stderr"}
	return zc.Build()
}

// OrNop returns lg, or a no-op logger when lg is nil, so components can
// accept a nil logger.
func OrNop(lg *zap.Logger) *zap.Logger {
	if lg == nil {
		return zap.NewNop()
	}
	return lg
}
