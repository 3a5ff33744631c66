package streammanager

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"time"

	"go.uber.org/zap"

	"github.com/clogs-io/clogs/conn"
)

// Config is a stream manager's configuration; cmd/stream-manager fills it
// from flags.
type Config struct {
	// Name is this manager's etcd member name (sm1).
	Name string
	// Listen is the gRPC address (127.0.0.1:3401); it is also the address
	// followers name when they point clients at the leader.
	Listen string
	// HTTP serves /metrics and /status (127.0.0.1:3411); empty disables.
	HTTP string
	// DataDir holds the embedded etcd's data (./data/sm1).
	DataDir string
	// EtcdClientURL and EtcdPeerURL are the embedded etcd's URLs.
	EtcdClientURL string
	EtcdPeerURL   string
	// InitialCluster lists the embedded etcd members, name=peerURL,...
	InitialCluster string
	// EtcdEndpoints, when set, uses an existing etcd cluster instead of
	// starting an embedded member.
	EtcdEndpoints []string
	// EtcdQuotaBytes is the embedded etcd's space quota (0: etcd's
	// default, 2 GiB).
	EtcdQuotaBytes int64
	// Cluster names this clogs cluster: keys live under /clogs/<cluster>/.
	Cluster string
	// SessionTTL is the leadership lease: a leader that cannot renew it
	// for this long loses leadership.
	SessionTTL time.Duration
	// NodeDeadAfter is the missed-heartbeat window after which a node is
	// dead.
	NodeDeadAfter time.Duration
	// SealTimeout bounds the CommitLength round of a seal.
	SealTimeout time.Duration
	// IDBatch is how many IDs the leader reserves from etcd at a time.
	IDBatch uint64
	// ReconcileInterval is how often the leader looks for replicas to
	// repair, move or delete, and applies retention.
	ReconcileInterval time.Duration
	// ReplicaDeadAfter is how long a node must be dead before its replicas
	// are copied to other nodes (a node that comes back sooner keeps them).
	ReplicaDeadAfter time.Duration
	// GCGrace is how long an extent file no stream references stays on its
	// node before the node is told to delete it: long enough for an
	// allocation or a move in progress to be recorded.
	GCGrace time.Duration
	// RepairConcurrency bounds the repairs and moves run at once;
	// RepairTimeout bounds one (a whole-extent copy).
	RepairConcurrency int
	RepairTimeout     time.Duration
	// Placement chooses nodes for new extents.
	Placement PlacementPolicy
	// Conn configures connections to extent-nodes.
	Conn conn.Config
	// Logger; nil logs nothing.
	Logger *zap.Logger
}

// DefaultConfig returns the defaults of the command-line contract.
func DefaultConfig() Config {
	return Config{
		Name:           "sm1",
		Listen:         "127.0.0.1:3401",
		HTTP:           "127.0.0.1:3411",
		DataDir:        "./data/sm1",
		EtcdClientURL:  "http://127.0.0.1:2379",
		EtcdPeerURL:    "http://127.0.0.1:2380",
		InitialCluster: "sm1=http://127.0.0.1:2380",
		Cluster:        "default",
		SessionTTL:     5 * time.Second,
		NodeDeadAfter:  10 * time.Second,
		SealTimeout:    3 * time.Second,
		IDBatch:        100,

		ReconcileInterval: 5 * time.Second,
		ReplicaDeadAfter:  10 * time.Minute,
		GCGrace:           10 * time.Minute,
		RepairConcurrency: 2,
		RepairTimeout:     10 * time.Minute,

		Placement: DefaultPlacementPolicy(),
		Conn:      conn.DefaultConfig(),
	}
}

var clusterName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen address %q: %w", c.Listen, err))
	}
	if c.HTTP != "" {
		if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
			errs = append(errs, fmt.Errorf("http address %q: %w", c.HTTP, err))
		}
	}
	if !clusterName.MatchString(c.Cluster) {
		errs = append(errs, fmt.Errorf("cluster name %q: want 1-64 of [A-Za-z0-9._-]", c.Cluster))
	}
	if len(c.EtcdEndpoints) == 0 {
		errs = append(errs, c.validateEmbedded()...)
	}
	if c.SessionTTL < time.Second || c.SessionTTL%time.Second != 0 {
		errs = append(errs, fmt.Errorf("session TTL %v: whole seconds, at least 1s (etcd leases count seconds)", c.SessionTTL))
	}
	if c.NodeDeadAfter <= 0 {
		errs = append(errs, fmt.Errorf("node-dead-after %v must be positive", c.NodeDeadAfter))
	}
	if c.SealTimeout <= 0 {
		errs = append(errs, fmt.Errorf("seal timeout %v must be positive", c.SealTimeout))
	}
	if c.ReconcileInterval <= 0 || c.ReplicaDeadAfter <= 0 || c.GCGrace <= 0 || c.RepairTimeout <= 0 {
		errs = append(errs, fmt.Errorf("reconcile interval %v, replica-dead-after %v, GC grace %v and repair timeout %v must be positive",
			c.ReconcileInterval, c.ReplicaDeadAfter, c.GCGrace, c.RepairTimeout))
	}
	if c.RepairConcurrency < 1 {
		errs = append(errs, fmt.Errorf("repair concurrency %d must be at least 1", c.RepairConcurrency))
	}
	if c.IDBatch == 0 {
		errs = append(errs, errors.New("ID batch must be positive"))
	}
	if err := c.Placement.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Conn.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stream manager config: %w", err)
	}
	return nil
}

func (c Config) validateEmbedded() []error {
	var errs []error
	if c.Name == "" || c.DataDir == "" || c.InitialCluster == "" {
		errs = append(errs, errors.New("embedded etcd needs a name, a data dir and an initial cluster"))
	}
	for _, u := range []string{c.EtcdClientURL, c.EtcdPeerURL} {
		if parsed, err := url.Parse(u); err != nil || parsed.Host == "" {
			errs = append(errs, fmt.Errorf("etcd URL %q is not a URL", u))
		}
	}
	return errs
}

// prefix is where this cluster's keys live.
func (c Config) prefix() string { return "/clogs/" + c.Cluster + "/" }
