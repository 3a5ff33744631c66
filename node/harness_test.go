package node

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/clogs-io/clogs/conn"
	clogspb "github.com/clogs-io/clogs/proto"
)

// testCluster is a set of real extent-nodes, each with its own disk
// directory, serving gRPC on 127.0.0.1 random ports.
type testCluster struct {
	t     *testing.T
	nodes []*Node
	dirs  []string
	pool  *conn.Pool
}

func testConfig(dir string) Config {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.HTTP = "127.0.0.1:0"
	cfg.Disks = []string{dir}
	cfg.StreamManagers = nil // these tests drive the nodes without a manager
	cfg.ReplicaTimeout = 2 * time.Second
	cfg.Conn.DialTimeout = time.Second
	return cfg
}

func startCluster(t *testing.T, n int) *testCluster {
	t.Helper()
	return startClusterWith(t, n, nil)
}

// startClusterWith is startCluster with a function that may change node
// i's configuration before it starts.
func startClusterWith(t *testing.T, n int, configure func(i int, cfg *Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	root := t.TempDir()
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("node%d", i+1))
		c.dirs = append(c.dirs, dir)
		cfg := testConfig(dir)
		if configure != nil {
			configure(i, &cfg)
		}
		c.nodes = append(c.nodes, c.startNode(cfg))
	}
	pool, err := conn.NewPool(conn.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	c.pool = pool
	t.Cleanup(func() {
		pool.Close()
		for _, nd := range c.nodes {
			if nd != nil {
				nd.Stop()
			}
		}
	})
	return c
}

func (c *testCluster) startNode(cfg Config) *Node {
	c.t.Helper()
	nd, err := New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := nd.Start(); err != nil {
		c.t.Fatal(err)
	}
	return nd
}

// client returns an ExtentService client for node i.
func (c *testCluster) client(i int) clogspb.ExtentServiceClient {
	c.t.Helper()
	cc, err := c.pool.Get(context.Background(), c.nodes[i].Addr())
	if err != nil {
		c.t.Fatal(err)
	}
	return clogspb.NewExtentServiceClient(cc)
}

// replicaSet names nodes idx... as an extent's replicas, primary first.
func (c *testCluster) replicaSet(idx ...int) []*clogspb.Replica {
	var set []*clogspb.Replica
	for _, i := range idx {
		set = append(set, &clogspb.Replica{NodeId: uint64(i + 1), Addr: c.nodes[i].Addr()})
	}
	return set
}

// alloc creates extent id on nodes idx (primary first).
func (c *testCluster) alloc(id uint64, idx ...int) {
	c.t.Helper()
	set := c.replicaSet(idx...)
	for self, i := range idx {
		_, err := c.client(i).AllocExtent(context.Background(), &clogspb.AllocExtentRequest{ExtentId: id, Replicas: set, SelfIndex: uint32(self)})
		if err != nil {
			c.t.Fatalf("alloc extent %d on node %d: %v", id, i, err)
		}
	}
}
