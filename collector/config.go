package collector

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/clogs-io/clogs/collector/udpin"
	"github.com/clogs-io/clogs/logblock"
	"github.com/clogs-io/clogs/mask"
	clogspb "github.com/clogs-io/clogs/proto"
	"github.com/clogs-io/clogs/streamclient"
)

// Config configures a Collector. Flags of cmd/clogs-collector map onto it
// one to one.
type Config struct {
	// Listen is the clogs datagram UDP address; Syslog the syslog UDP
	// address ("" disables syslog intake).
	Listen string
	Syslog string
	// HTTP serves /metrics and /status ("" serves nothing).
	HTTP string
	// Intake tunes the UDP sockets of both listeners (Addr is ignored).
	Intake udpin.Config
	// Rules masks the lines; nil means the built-in defaults.
	Rules *mask.Rules
	// StreamTemplate names the stream of a line: {sys}, {type} and {file}
	// are replaced by the line's fields.
	StreamTemplate string
	// BlockBytes: a stream's batch becomes a block once its records take
	// this many bytes. FlushInterval: a line waits at most this long
	// before its batch is appended.
	BlockBytes    int
	FlushInterval time.Duration
	// MaxBufferedBytes bounds the memory of lines accepted and not yet
	// stored; a line past it is dropped and counted ("overload").
	MaxBufferedBytes int64
	// MaxStreams bounds the streams written at once; a line for another
	// stream is dropped and counted ("too_many_streams").
	MaxStreams int
	// IdleTimeout retires a stream's batcher after this long without a
	// line, so that streams that come and go do not fill MaxStreams.
	IdleTimeout time.Duration
	// StreamPolicy, when set, is given to the streams the collector
	// creates (retention by age or bytes, erasure coding); streams that
	// exist keep theirs.
	StreamPolicy *clogspb.StreamPolicy
	// Client reaches the stream managers.
	Client streamclient.Config
	// Logger; nil logs nothing.
	Logger *zap.Logger
}

// DefaultConfig returns the command-line contract's defaults.
func DefaultConfig() Config {
	intake := udpin.DefaultConfig()
	intake.Addr = ""
	// 64 MiB a socket rides out stalls of a few hundred milliseconds at
	// 200,000 lines/s (a queued datagram costs about 1 KiB of buffer):
	// with 8 MiB, make bench-collector lost 1% of them to the kernel on
	// this 2-core machine, with 64 MiB none. It is memory only when full.
	intake.ReadBuffer = 64 << 20
	return Config{
		Listen:           "127.0.0.1:6000",
		Syslog:           "127.0.0.1:5514",
		HTTP:             "127.0.0.1:6100",
		Intake:           intake,
		StreamTemplate:   "{sys}/{file}",
		BlockBytes:       512 << 10,
		FlushInterval:    100 * time.Millisecond,
		MaxBufferedBytes: 256 << 20,
		MaxStreams:       10000,
		IdleTimeout:      5 * time.Minute,
		Client:           streamclient.DefaultConfig(),
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen address is empty"))
	}
	if !strings.Contains(c.StreamTemplate, "{") || strings.Count(c.StreamTemplate, "{") != strings.Count(c.StreamTemplate, "}") {
		errs = append(errs, fmt.Errorf("stream template %q: want placeholders like {sys}/{file}", c.StreamTemplate))
	} else if err := checkTemplate(c.StreamTemplate); err != nil {
		errs = append(errs, err)
	}
	if c.BlockBytes < 1<<10 || c.BlockBytes > logblock.MaxRecordsLen {
		errs = append(errs, fmt.Errorf("block bytes %d: want 1 KiB to %d", c.BlockBytes, logblock.MaxRecordsLen))
	}
	if c.FlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("flush interval %v must be positive", c.FlushInterval))
	}
	if c.MaxBufferedBytes < int64(c.BlockBytes) {
		errs = append(errs, fmt.Errorf("max buffered bytes %d must hold a block of %d", c.MaxBufferedBytes, c.BlockBytes))
	}
	if c.IdleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("idle timeout %v must be positive", c.IdleTimeout))
	}
	if c.MaxStreams < 1 {
		errs = append(errs, fmt.Errorf("max streams %d must be at least 1", c.MaxStreams))
	}
	intake := c.Intake
	intake.Addr = "127.0.0.1:0"
	if err := intake.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Client.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("collector: %w", err)
	}
	return nil
}
