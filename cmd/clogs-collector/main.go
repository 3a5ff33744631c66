// Command clogs-collector runs the clogs log collector: it takes log lines
// as clogs datagrams (--listen) and syslog (--syslog) over UDP, masks
// them (--rules, or the built-in rules), batches them per stream
// (--stream-template) and appends them to the cluster of the stream
// managers --sm names. Metrics are at http://<--http>/metrics and its
// accounting at /status. What the collector does lives in package
// collector; this command turns flags into a collector.Config.
//
// SIGTERM or SIGINT stops intake and stores every line accepted before it
// exits (lines still unsent after --shutdown-timeout are counted as
// dropped). A second signal exits at once, with 1.
//
// Exit codes: 0 after a clean shutdown; 1 when it cannot start (one line
// on stderr says why) or could not store everything at shutdown.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/clogs-io/clogs/collector"
	"github.com/clogs-io/clogs/internal/buildinfo"
	"github.com/clogs-io/clogs/internal/daemon"
	"github.com/clogs-io/clogs/mask"
	clogspb "github.com/clogs-io/clogs/proto"
	"github.com/clogs-io/clogs/xlog"
)

const exitFailure = 1

// version is set at link time (-ldflags "-X main.version=v1.2.3").
var version string

type options struct {
	listen, syslog, http string
	managers             []string
	rules                string
	streamTemplate       string
	blockBytes           daemon.ByteSize
	flushInterval        time.Duration
	maxBuffered          daemon.ByteSize
	maxStreams           int
	idleTimeout          time.Duration
	keepFor              time.Duration
	keepBytes            daemon.ByteSize
	sockets              int
	readBuffer           daemon.ByteSize
	logLevel, logFormat  string
	shutdownTimeout      time.Duration
}

func defaultOptions() *options {
	cfg := collector.DefaultConfig()
	logCfg := xlog.DefaultConfig()
	return &options{
		listen: cfg.Listen, syslog: cfg.Syslog, http: cfg.HTTP, managers: cfg.Client.Managers,
		streamTemplate: cfg.StreamTemplate, blockBytes: daemon.ByteSize(cfg.BlockBytes), flushInterval: cfg.FlushInterval,
		maxBuffered: daemon.ByteSize(cfg.MaxBufferedBytes), maxStreams: cfg.MaxStreams, idleTimeout: cfg.IdleTimeout,
		sockets: cfg.Intake.Sockets, readBuffer: daemon.ByteSize(cfg.Intake.ReadBuffer),
		logLevel: logCfg.Level, logFormat: logCfg.Format, shutdownTimeout: 30 * time.Second,
	}
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	return daemon.Run(newRootCmd(), "clogs-collector", args, stdout, stderr)
}

func newRootCmd() *cobra.Command {
	o := defaultOptions()
	cmd := &cobra.Command{
		Use:   "clogs-collector",
		Short: "Run the clogs log collector",
		Long: `clogs-collector takes log lines over UDP — clogs datagrams on --listen and
syslog (RFC 5424 and RFC 3164) on --syslog — masks card numbers, ID numbers,
phone numbers, e-mail addresses, secrets and ISO 8583 fields (--rules, or the
built-in rules), and appends them in batches to streams named by
--stream-template ({sys}, {type}, {file}); syslog goes to syslog/<app-name>.
Pings are answered with pongs at once. Every line is stored or counted as
dropped by reason: see http://<--http>/status and /metrics.

SIGTERM or SIGINT stops intake and stores what was accepted, then exits.`,
		Version:       buildinfo.Version(version),
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE:          func(*cobra.Command, []string) error { return serve(o) },
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&o.listen, "listen", o.listen, "UDP address for clogs datagrams, host:port")
	f.StringVar(&o.syslog, "syslog", o.syslog, "UDP address for syslog, host:port; empty disables it")
	f.StringSliceVar(&o.managers, "sm", o.managers, "stream managers, comma-separated host:port list")
	f.StringVar(&o.rules, "rules", "", "masking rules file (YAML); empty uses the built-in rules")
	f.StringVar(&o.http, "http", o.http, "address serving /metrics and /status; empty disables it")
	f.StringVar(&o.streamTemplate, "stream-template", o.streamTemplate, "stream name of a line: {sys}, {type} and {file} are replaced by its fields")
	f.Var(&o.blockBytes, "block-bytes", "a stream's batch is appended once its lines take this many bytes (KiB, MiB suffixes)")
	f.DurationVar(&o.flushInterval, "flush-interval", o.flushInterval, "a line waits at most this long before its batch is appended")
	f.Var(&o.maxBuffered, "max-buffered-bytes", "memory for lines accepted and not yet stored; lines past it are dropped and counted")
	f.IntVar(&o.maxStreams, "max-streams", o.maxStreams, "streams written at once; lines for more are dropped and counted")
	f.DurationVar(&o.idleTimeout, "idle-timeout", o.idleTimeout, "a stream's batcher stops after this long without a line (it comes back with the next)")
	f.DurationVar(&o.keepFor, "retention-max-age", 0, "streams the collector creates drop sealed extents sealed longer ago than this (0: keep)")
	f.Var(&o.keepBytes, "retention-max-bytes", "streams the collector creates drop their oldest sealed extents past this many bytes (0: keep)")
	f.IntVar(&o.sockets, "sockets", o.sockets, "SO_REUSEPORT sockets per listener, each with its own reader")
	f.Var(&o.readBuffer, "read-buffer", "kernel receive buffer per socket (forced when running as root)")
	f.StringVar(&o.logLevel, "log-level", o.logLevel, "log level: debug, info, warn or error")
	f.StringVar(&o.logFormat, "log-format", o.logFormat, "log format on stderr: console or json")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", o.shutdownTimeout, "how long shutdown may take to store what was accepted")
	return cmd
}

func (o *options) config(lg *zap.Logger) (collector.Config, error) {
	cfg := collector.DefaultConfig()
	cfg.Listen, cfg.Syslog, cfg.HTTP = o.listen, o.syslog, o.http
	cfg.Client.Managers = o.managers
	cfg.Client.Logger = lg.Named("client")
	cfg.StreamTemplate = o.streamTemplate
	cfg.BlockBytes = int(o.blockBytes)
	cfg.FlushInterval = o.flushInterval
	cfg.MaxBufferedBytes = int64(o.maxBuffered)
	cfg.MaxStreams = o.maxStreams
	cfg.IdleTimeout = o.idleTimeout
	if o.keepFor < 0 || o.keepFor%time.Second != 0 {
		return cfg, fmt.Errorf("--retention-max-age %v: whole seconds, not negative", o.keepFor)
	}
	if o.keepFor > 0 || o.keepBytes > 0 {
		cfg.StreamPolicy = &clogspb.StreamPolicy{MaxAgeSeconds: int64(o.keepFor / time.Second), MaxBytes: uint64(o.keepBytes)}
	}
	cfg.Intake.Sockets = o.sockets
	cfg.Intake.ReadBuffer = int(o.readBuffer)
	cfg.Logger = lg
	if o.rules != "" {
		rules, err := mask.LoadRules(o.rules)
		if err != nil {
			return cfg, fmt.Errorf("--rules: %w", err)
		}
		cfg.Rules = rules
	}
	if o.shutdownTimeout <= 0 {
		return cfg, fmt.Errorf("--shutdown-timeout %v must be positive", o.shutdownTimeout)
	}
	return cfg, cfg.Validate()
}

func serve(o *options) error {
	lg, err := xlog.New(xlog.Config{Level: o.logLevel, Format: o.logFormat})
	if err != nil {
		return err
	}
	defer lg.Sync() // stderr may not support fsync
	cfg, err := o.config(lg)
	if err != nil {
		return err
	}
	stop, release := daemon.WatchSignals(lg, exitFailure)
	defer release()
	c, err := collector.Start(cfg)
	if err != nil {
		return err
	}
	lg.Info("clogs-collector started", zap.String("version", buildinfo.Version(version)), zap.Int("pid", os.Getpid()),
		zap.Stringer("listen", c.Addr()), zap.String("syslog", addrString(c.SyslogAddr())), zap.String("http", c.HTTPAddr()))
	sig := <-stop
	lg.Info("shutting down", zap.Stringer("signal", sig), zap.Duration("timeout", o.shutdownTimeout))
	ctx, cancel := context.WithTimeout(context.Background(), o.shutdownTimeout)
	defer cancel()
	err = c.Shutdown(ctx)
	st := c.Stats()
	lg.Info("clogs-collector stopped", zap.Any("datagrams", st.Datagrams), zap.Uint64("lines-stored", st.LinesStored),
		zap.Uint64("dropped", st.DroppedTotal), zap.Any("dropped-by-reason", st.Dropped), zap.Uint64("kernel-drops", st.KernelDrops))
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}
