package nodebench

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/node"
)

// nodeCount is how many extent-nodes run: one replica set.
const nodeCount = node.ReplicationFactor

// benchMaxExtentSize is the nodes' maximum extent size: more than any
// workload writes in its duration here, so that rolling to a new extent
// (which the client also does, on "full") stays rare.
const benchMaxExtentSize = 64 << 30

// replicaTimeout bounds each ReplicateBlocks call of the primary.
const replicaTimeout = 10 * time.Second

// stopTimeout bounds the graceful stop of a cluster.
const stopTimeout = 10 * time.Second

// cluster is three running extent-nodes. Node 1 is the primary of every
// bench extent.
type cluster interface {
	// addrs returns the nodes' gRPC addresses.
	addrs() []string
	// metricsAddrs returns the nodes' HTTP addresses, which serve /metrics.
	metricsAddrs() []string
	// failure reports nodes that died while they should be running.
	failure() error
	// stop stops every node and waits for it.
	stop(ctx context.Context) error
}

// clusterSpec is what a cluster is started with.
type clusterSpec struct {
	dirs     []string // each node's disk
	settings settings // node settings only (see settings.nodeSettings)
	logDir   string   // node processes' logs
}

// newClusterSpec names the disks of the cluster numbered seq under dir.
func newClusterSpec(dir string, seq int, s settings) clusterSpec {
	spec := clusterSpec{settings: s, logDir: filepath.Join(dir, fmt.Sprintf("cluster%d", seq))}
	for i := range nodeCount {
		spec.dirs = append(spec.dirs, filepath.Join(spec.logDir, fmt.Sprintf("node%d", i+1)))
	}
	return spec
}

// nodeConfig is the configuration of an in-process node; node processes
// get the same values through their flags.
func nodeConfig(dir string, s settings) node.Config {
	cfg := node.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.HTTP = "127.0.0.1:0"
	cfg.Disks = []string{dir}
	cfg.StreamManagers = nil // the benchmark allocates extents itself
	cfg.ReplicaTimeout = replicaTimeout
	cfg.MaxInflightBatches = s.maxInflightBatches
	cfg.Conn.Compression = s.peerCompression
	cfg.Extent.MaxSize = benchMaxExtentSize
	return cfg
}

// inProcessCluster runs node.Node servers in this process; they still talk
// gRPC over loopback TCP to each other and to the client.
type inProcessCluster struct {
	nodes []*node.Node
}

func startInProcess(spec clusterSpec) (*inProcessCluster, error) {
	c := &inProcessCluster{}
	for _, dir := range spec.dirs {
		n, err := node.New(nodeConfig(dir, spec.settings))
		if err == nil {
			err = n.Start()
		}
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
			defer cancel()
			return nil, errors.Join(fmt.Errorf("start node in %s: %w", dir, err), c.stop(ctx))
		}
		c.nodes = append(c.nodes, n)
	}
	return c, nil
}

func (c *inProcessCluster) addrs() []string {
	var addrs []string
	for _, n := range c.nodes {
		addrs = append(addrs, n.Addr())
	}
	return addrs
}

func (c *inProcessCluster) metricsAddrs() []string {
	var addrs []string
	for _, n := range c.nodes {
		addrs = append(addrs, n.HTTPAddr())
	}
	return addrs
}

func (c *inProcessCluster) failure() error { return nil }

func (c *inProcessCluster) stop(ctx context.Context) error {
	var errs []error
	for _, n := range c.nodes {
		errs = append(errs, n.Shutdown(ctx))
	}
	c.nodes = nil
	return errors.Join(errs...)
}

// newClientPool returns the benchmark client's connections.
func newClientPool(compression string) (*conn.Pool, error) {
	cfg := conn.DefaultConfig()
	cfg.Compression = compression
	return conn.NewPool(cfg)
}
