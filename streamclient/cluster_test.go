package streamclient

import (
	"testing"
	"time"

	"github.com/clogs-io/clogs/internal/testcluster"
	"github.com/clogs-io/clogs/node"
	"github.com/clogs-io/clogs/streammanager"
)

// cluster is a real stream manager (embedded etcd) and real extent-nodes
// that register and heartbeat by themselves, all on 127.0.0.1.
type cluster struct {
	t     *testing.T
	sm    *streammanager.Manager
	nodes []*node.Node
	dirs  []string // dirs[i] is nodes[i]'s disk
}

func startCluster(t *testing.T, nodes int) *cluster {
	t.Helper()
	return startClusterWith(t, nodes, func(*node.Config) {})
}

// startClusterWith starts a cluster whose nodes' configuration edit
// changes.
func startClusterWith(t *testing.T, nodes int, edit func(*node.Config)) *cluster {
	t.Helper()
	c := &cluster{t: t}
	c.sm = testcluster.StartManager(t, testcluster.ManagerConfig(t))
	ncfg := testcluster.NodeConfig(nil, c.sm.Addr())
	edit(&ncfg)
	c.nodes, c.dirs = testcluster.StartNodes(t, nodes, ncfg)
	testcluster.WaitAlive(t, c.sm.Addr(), nodes)
	return c
}

// client makes a client of this cluster with cfg's other settings.
func (c *cluster) client(cfg Config) *Client {
	c.t.Helper()
	cfg.Managers = []string{c.sm.Addr()}
	cfg.Conn.DialTimeout = time.Second
	cfg.CallTimeout = 5 * time.Second
	cl, err := New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { cl.Close() })
	return cl
}
