// Command stream-manager runs one clogs stream manager: it keeps the
// metadata of streams, extents and nodes in etcd, is elected leader among
// its peers, and as leader answers the StreamManager gRPC service
// (--listen). Prometheus metrics are at /metrics and a JSON status page at
// /status (--http). What a manager does lives in package streammanager;
// this command turns flags into a streammanager.Config, starts the manager
// and stops it on a signal.
//
// By default the manager starts its own embedded etcd member, with its data
// in --data-dir: alone (the default --initial-cluster names only this
// member), or as one of several managers forming one etcd cluster
// (--initial-cluster lists every member's name=peer-URL). --etcd-endpoints
// uses an existing etcd cluster instead.
//
// SIGTERM or SIGINT shuts the manager down: it stops serving, resigns
// leadership (a follower takes over at once) and stops its etcd member,
// then exits 0. A second signal exits at once, with 1. A signal while the
// manager is still starting (an embedded member waits for a quorum of its
// peers) exits at once, with 1: nothing is served yet, and etcd's files
// are safe against an abrupt exit.
//
// Exit codes: 0 after a clean shutdown; 1 when the manager cannot start
// (bad flags, a port in use, etcd that does not start; one line on stderr
// says why), or on a signal before it is ready or a second one.
package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/clogs-io/clogs/internal/buildinfo"
	"github.com/clogs-io/clogs/internal/daemon"
	"github.com/clogs-io/clogs/streammanager"
	"github.com/clogs-io/clogs/xlog"
)

// Exit codes; part of the command-line contract.
const (
	exitOK      = 0
	exitFailure = 1
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); when it
// is empty the module version and VCS revision from the build info are used.
var version string

// options are the command's flags.
type options struct {
	name           string
	listen         string
	http           string
	dataDir        string
	etcdClientURL  string
	etcdPeerURL    string
	initialCluster string
	etcdEndpoints  []string
	cluster        string
	sessionTTL     time.Duration
	nodeDeadAfter  time.Duration
	sealTimeout    time.Duration
	reconcile      time.Duration
	replicaDead    time.Duration
	gcGrace        time.Duration
	repairs        int
	etcdQuota      daemon.ByteSize
	highWater      float64
	logLevel       string
	logFormat      string

	// initialClusterSet says --initial-cluster was given; without it the
	// member list is this member alone, <--name>=<--etcd-peer-url>.
	initialClusterSet bool
	// embeddedFlagsSet names the embedded-etcd flags given, which
	// --etcd-endpoints makes moot.
	embeddedFlagsSet []string
}

func defaultOptions() *options {
	cfg := streammanager.DefaultConfig()
	logCfg := xlog.DefaultConfig()
	return &options{
		name:           cfg.Name,
		listen:         cfg.Listen,
		http:           cfg.HTTP,
		dataDir:        cfg.DataDir,
		etcdClientURL:  cfg.EtcdClientURL,
		etcdPeerURL:    cfg.EtcdPeerURL,
		initialCluster: cfg.InitialCluster,
		etcdEndpoints:  cfg.EtcdEndpoints,
		cluster:        cfg.Cluster,
		sessionTTL:     cfg.SessionTTL,
		nodeDeadAfter:  cfg.NodeDeadAfter,
		sealTimeout:    cfg.SealTimeout,
		reconcile:      cfg.ReconcileInterval,
		replicaDead:    cfg.ReplicaDeadAfter,
		gcGrace:        cfg.GCGrace,
		repairs:        cfg.RepairConcurrency,
		highWater:      cfg.Placement.HighWater,
		logLevel:       logCfg.Level,
		logFormat:      logCfg.Format,
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command with args and returns the exit code (see
// daemon.Run).
func run(args []string, stdout, stderr io.Writer) int {
	return daemon.Run(newRootCmd(), "stream-manager", args, stdout, stderr)
}

// embeddedFlags are the flags that only an embedded etcd member uses.
var embeddedFlags = []string{"name", "data-dir", "etcd-client-url", "etcd-peer-url", "initial-cluster"}

func newRootCmd() *cobra.Command {
	opts := defaultOptions()
	cmd := &cobra.Command{
		Use:   "stream-manager",
		Short: "Run a clogs stream manager",
		Long: `stream-manager keeps the metadata of clogs streams, extents and nodes in etcd,
is elected leader among its peers, and as leader places, allocates and seals
extents. Clients and extent-nodes talk to it over gRPC (--listen); followers
answer writes with "not leader" and the leader's address. Prometheus metrics
are at http://<--http>/metrics, a JSON status at http://<--http>/status.

By default it runs an embedded etcd member with its data in --data-dir: alone,
or with other managers as one etcd cluster when --initial-cluster lists every
member (name=peer-URL, comma-separated; the same list on every member).
--etcd-endpoints uses an existing etcd cluster instead.

SIGTERM or SIGINT shuts it down gracefully (a second signal exits at once).
Exit codes: 0 after a clean shutdown, 1 when it cannot start or is stopped
before it is ready.`,
		Version:       versionString(),
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			opts.initialClusterSet = f.Changed("initial-cluster")
			for _, name := range embeddedFlags {
				if f.Changed(name) {
					opts.embeddedFlagsSet = append(opts.embeddedFlagsSet, "--"+name)
				}
			}
			return serve(opts)
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&opts.name, "name", opts.name, "this manager's etcd member name; must appear in --initial-cluster")
	f.StringVar(&opts.listen, "listen", opts.listen, "gRPC address, host:port; also the address followers name when they point clients at the leader")
	f.StringVar(&opts.http, "http", opts.http, "metrics and status address, host:port, serving /metrics and /status; empty disables it")
	f.StringVar(&opts.dataDir, "data-dir", opts.dataDir, "directory of the embedded etcd member's data, created if missing")
	f.StringVar(&opts.etcdClientURL, "etcd-client-url", opts.etcdClientURL, "the embedded etcd member's client URL, http://host:port")
	f.StringVar(&opts.etcdPeerURL, "etcd-peer-url", opts.etcdPeerURL, "the embedded etcd member's peer URL, http://host:port, as other members reach it")
	f.StringVar(&opts.initialCluster, "initial-cluster", opts.initialCluster, "the embedded etcd cluster's members, name=peer-URL,...; read only when --data-dir is new (when not given: <--name>=<--etcd-peer-url>)")
	f.StringSliceVar(&opts.etcdEndpoints, "etcd-endpoints", opts.etcdEndpoints, "use this external etcd cluster (comma-separated client URLs or host:port) instead of an embedded member")
	f.StringVar(&opts.cluster, "cluster", opts.cluster, "clogs cluster name: metadata lives under /clogs/<cluster>/ in etcd; 1-64 of [A-Za-z0-9._-]")
	f.DurationVar(&opts.sessionTTL, "session-ttl", opts.sessionTTL, "leadership lease, whole seconds: a leader that cannot renew it for this long loses leadership, and a dead leader is replaced after it")
	f.DurationVar(&opts.nodeDeadAfter, "node-dead-after", opts.nodeDeadAfter, "missed-heartbeat window after which an extent-node counts as dead")
	f.DurationVar(&opts.sealTimeout, "seal-timeout", opts.sealTimeout, "how long a seal waits for the replicas' commit lengths")
	f.DurationVar(&opts.reconcile, "reconcile-interval", opts.reconcile, "how often the leader repairs, moves and garbage-collects replicas and applies retention")
	f.DurationVar(&opts.replicaDead, "replica-dead-after", opts.replicaDead, "how long a node must be dead before its replicas are copied elsewhere")
	f.DurationVar(&opts.gcGrace, "gc-grace", opts.gcGrace, "how long an extent file no stream references stays on its node before it is deleted")
	f.IntVar(&opts.repairs, "repair-concurrency", opts.repairs, "repairs and moves run at once")
	f.Var(&opts.etcdQuota, "etcd-quota-bytes", "space quota of the embedded etcd (0: etcd's default, 2GiB); past it writes fail until the leader compacts and defragments")
	f.Float64Var(&opts.highWater, "high-water", opts.highWater, "used fraction of a disk above which it takes no new extents (placement), 0 < x <= 1")
	f.StringVar(&opts.logLevel, "log-level", opts.logLevel, "log level: debug, info, warn or error")
	f.StringVar(&opts.logFormat, "log-format", opts.logFormat, "log format on stderr: console or json")
	return cmd
}

// config builds the manager's configuration from the flags and checks it.
// Every problem found is reported, not only the first.
func (o *options) config(lg *zap.Logger) (streammanager.Config, error) {
	cfg := streammanager.DefaultConfig()
	cfg.Name = o.name
	cfg.Listen = o.listen
	cfg.HTTP = o.http
	cfg.DataDir = o.dataDir
	cfg.EtcdClientURL = o.etcdClientURL
	cfg.EtcdPeerURL = o.etcdPeerURL
	cfg.InitialCluster = o.initialCluster
	if !o.initialClusterSet {
		cfg.InitialCluster = o.name + "=" + o.etcdPeerURL
	}
	cfg.EtcdEndpoints = o.etcdEndpoints
	cfg.Cluster = o.cluster
	cfg.SessionTTL = o.sessionTTL
	cfg.NodeDeadAfter = o.nodeDeadAfter
	cfg.SealTimeout = o.sealTimeout
	cfg.ReconcileInterval = o.reconcile
	cfg.ReplicaDeadAfter = o.replicaDead
	cfg.GCGrace = o.gcGrace
	cfg.RepairConcurrency = o.repairs
	cfg.EtcdQuotaBytes = int64(o.etcdQuota)
	cfg.Placement.HighWater = o.highWater
	cfg.Conn.Logger = lg.Named("conn")
	cfg.Logger = lg

	var errs []error
	if o.sessionTTL >= time.Second && o.sessionTTL%time.Second != 0 {
		// etcd leases count whole seconds; the manager would cut it.
		errs = append(errs, fmt.Errorf("--session-ttl %v: want whole seconds", o.sessionTTL))
	}
	if len(cfg.EtcdEndpoints) > 0 {
		errs = append(errs, checkEndpoints(cfg.EtcdEndpoints))
	} else {
		for _, u := range []struct{ flag, raw string }{{"--etcd-client-url", cfg.EtcdClientURL}, {"--etcd-peer-url", cfg.EtcdPeerURL}} {
			// What is no URL at all, Validate reports.
			if parsed, err := url.Parse(u.raw); err == nil && parsed.Host != "" {
				errs = append(errs, checkEtcdURL(u.flag, u.raw))
			}
		}
		if o.initialClusterSet { // else it is <--name>=<--etcd-peer-url>
			errs = append(errs, checkInitialCluster(cfg.InitialCluster, cfg.Name, cfg.EtcdPeerURL))
		}
	}
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// checkEtcdURL checks an embedded member's URL: http://host:port and
// nothing more, as the embedded member serves neither TLS nor a path.
func checkEtcdURL(flag, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.Port() == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("%s %q: want http://host:port", flag, raw)
	}
	return nil
}

// checkEndpoints checks the --etcd-endpoints: client URLs or host:port.
func checkEndpoints(endpoints []string) error {
	for _, ep := range endpoints {
		if strings.Contains(ep, "://") {
			if u, err := url.Parse(ep); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
				continue
			}
		} else if _, _, err := net.SplitHostPort(ep); err == nil {
			continue
		}
		return fmt.Errorf("--etcd-endpoints entry %q: want http://host:port or host:port", ep)
	}
	return nil
}

// checkInitialCluster checks the --initial-cluster list, name=URL,...
// (a name may appear more than once, one URL each), and that it names this
// member with its --etcd-peer-url: otherwise etcd fails later, and in its
// own flags' words. Host names are left to etcd, which resolves them to
// compare.
func checkInitialCluster(list, name, peerURL string) error {
	members := map[string][]string{}
	for entry := range strings.SplitSeq(list, ",") {
		member, raw, ok := strings.Cut(entry, "=")
		if !ok || member == "" {
			return fmt.Errorf("--initial-cluster %q: entry %q is not name=peer-URL", list, entry)
		}
		if err := checkEtcdURL("--initial-cluster member "+member, raw); err != nil {
			return err
		}
		members[member] = append(members[member], raw)
	}
	own, ok := members[name]
	if !ok {
		return fmt.Errorf("--initial-cluster %q has no member named %q (--name)", list, name)
	}
	if slices.Contains(own, peerURL) || slices.ContainsFunc(slices.Concat(own, []string{peerURL}), hostName) {
		return nil
	}
	return fmt.Errorf("--initial-cluster gives %s the peer URL %s, but --etcd-peer-url is %s", name, strings.Join(own, ","), peerURL)
}

// hostName reports whether a URL's host is a name, not an IP address.
func hostName(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && net.ParseIP(u.Hostname()) == nil
}

// checkPorts binds every address the manager will listen on, all at once,
// and lets them go: a port in use, or one address given twice, is then
// reported at once, before an embedded etcd member starts (which may wait
// a minute for its peers), and Start rarely fails afterwards.
func checkPorts(cfg streammanager.Config) error {
	type bind struct{ what, addr string }
	binds := []bind{{"--listen", cfg.Listen}}
	if cfg.HTTP != "" {
		binds = append(binds, bind{"--http", cfg.HTTP})
	}
	if len(cfg.EtcdEndpoints) == 0 {
		for _, b := range []bind{{"--etcd-client-url", cfg.EtcdClientURL}, {"--etcd-peer-url", cfg.EtcdPeerURL}} {
			if u, err := url.Parse(b.addr); err == nil {
				binds = append(binds, bind{b.what, u.Host})
			}
		}
	}
	var errs []error
	for _, b := range binds {
		lis, err := net.Listen("tcp", b.addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", b.what, err)) // names the address
			continue
		}
		defer lis.Close()
	}
	return errors.Join(errs...)
}

// serve runs the manager until a signal, then shuts it down.
func serve(o *options) error {
	lg, err := xlog.New(xlog.Config{Level: o.logLevel, Format: o.logFormat})
	if err != nil {
		return err
	}
	defer lg.Sync() // stderr may not support fsync; nothing to do about it
	cfg, err := o.config(lg)
	if err != nil {
		return err
	}
	if err := checkPorts(cfg); err != nil {
		return err
	}
	// Signals are caught from here on: one during start-up ends the
	// process at once, one after it shuts the manager down.
	stop, release := daemon.WatchSignals(lg, exitFailure)
	defer release()

	fields := []zap.Field{zap.String("version", versionString()), zap.Int("pid", os.Getpid()),
		zap.String("cluster", cfg.Cluster), zap.String("grpc", cfg.Listen), zap.String("http", cfg.HTTP)}
	if len(cfg.EtcdEndpoints) > 0 {
		fields = append(fields, zap.Strings("etcd-endpoints", cfg.EtcdEndpoints))
		if len(o.embeddedFlagsSet) > 0 {
			lg.Warn("an external etcd is used; flags of the embedded member are ignored", zap.Strings("ignored", o.embeddedFlagsSet))
		}
	} else {
		fields = append(fields, zap.String("name", cfg.Name), zap.String("data-dir", cfg.DataDir),
			zap.String("etcd-client-url", cfg.EtcdClientURL), zap.String("etcd-peer-url", cfg.EtcdPeerURL),
			zap.String("initial-cluster", cfg.InitialCluster))
	}
	lg.Info("stream-manager starting", fields...)

	m, err := start(cfg, stop, lg)
	if err != nil {
		return err
	}
	var sig os.Signal
	select {
	case sig = <-stop:
	case err := <-m.Failed():
		lg.Error("embedded etcd stopped; exiting", zap.Error(err))
		m.Close()
		return fmt.Errorf("embedded etcd stopped: %w", err)
	}
	lg.Info("shutting down", zap.Stringer("signal", sig))
	began := time.Now()
	if err := m.Close(); err != nil {
		lg.Error("shutdown failed", zap.Error(err))
		return fmt.Errorf("shutdown: %w", err)
	}
	lg.Info("stream-manager stopped", zap.Duration("took", time.Since(began)))
	return nil
}

// start creates and starts the manager. New waits until the embedded etcd
// member is ready, which in a cluster of several takes a quorum of them, so
// it runs aside: a signal meanwhile ends start-up (and the process) at
// once.
func start(cfg streammanager.Config, stop <-chan os.Signal, lg *zap.Logger) (*streammanager.Manager, error) {
	type result struct {
		m   *streammanager.Manager
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := streammanager.New(cfg)
		if err == nil {
			if err = m.Start(); err != nil {
				m.Close() // stops the etcd member New started
				m = nil
			}
		}
		done <- result{m, err}
	}()
	select {
	case r := <-done:
		return r.m, r.err
	case sig := <-stop:
		lg.Warn("signal before the manager was ready; exiting", zap.Stringer("signal", sig))
		return nil, fmt.Errorf("stopped while starting (signal: %v); it was waiting for etcd: with an embedded member, are the others in --initial-cluster up?", sig)
	}
}

// versionString is the version --version prints.
func versionString() string { return buildinfo.Version(version) }
