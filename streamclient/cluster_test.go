package streamclient

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/clogs-io/clogs/node"
	"github.com/clogs-io/clogs/streammanager"
)

// cluster is a real stream manager (embedded etcd) and real extent-nodes
// that register and heartbeat by themselves, all on 127.0.0.1.
type cluster struct {
	t     *testing.T
	sm    *streammanager.Manager
	nodes []*node.Node
	dirs  []string
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var listeners []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range listeners {
		l.Close()
	}
	return ports
}

func startCluster(t *testing.T, nodes int) *cluster {
	t.Helper()
	c := &cluster{t: t}
	p := freePorts(t, 2)
	cfg := streammanager.DefaultConfig()
	cfg.Listen, cfg.HTTP, cfg.DataDir = "127.0.0.1:0", "", t.TempDir()
	cfg.EtcdClientURL = fmt.Sprintf("http://127.0.0.1:%d", p[0])
	cfg.EtcdPeerURL = fmt.Sprintf("http://127.0.0.1:%d", p[1])
	cfg.InitialCluster = "sm1=" + cfg.EtcdPeerURL
	cfg.SessionTTL, cfg.NodeDeadAfter, cfg.SealTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	cfg.Conn.DialTimeout = time.Second
	sm, err := streammanager.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sm.Start(); err != nil {
		sm.Close()
		t.Fatal(err)
	}
	c.sm = sm
	t.Cleanup(func() { sm.Close() })
	root := t.TempDir()
	for i := range nodes {
		dir := filepath.Join(root, fmt.Sprintf("node%d", i+1))
		c.dirs = append(c.dirs, dir)
		c.nodes = append(c.nodes, c.startNode(dir))
	}
	c.waitAlive(nodes)
	return c
}

func (c *cluster) startNode(dir string) *node.Node {
	c.t.Helper()
	cfg := node.DefaultConfig()
	cfg.Listen, cfg.HTTP, cfg.Disks = "127.0.0.1:0", "", []string{dir}
	cfg.StreamManagers = []string{c.sm.Addr()}
	cfg.HeartbeatInterval = 100 * time.Millisecond
	cfg.ReplicaTimeout = 2 * time.Second
	cfg.Conn.DialTimeout = time.Second
	nd, err := node.New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := nd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(nd.Stop)
	return nd
}

// waitAlive waits until n nodes are alive in the manager's view.
func (c *cluster) waitAlive(n int) {
	c.t.Helper()
	cl := c.client(DefaultConfig())
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := cl.NodesInfo(ctx)
		cancel()
		alive := 0
		if err == nil {
			for _, st := range resp.Nodes {
				if st.Alive {
					alive++
				}
			}
		}
		if alive >= n {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%d of %d nodes alive after 20s (last error %v)", alive, n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
