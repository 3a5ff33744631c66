package streammanager

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/node"
	clogspb "github.com/clogs-io/clogs/proto"
)

// freePorts returns n distinct free 127.0.0.1 ports.
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

// managerConfig is a one-member embedded-etcd manager on free ports.
func managerConfig(t *testing.T, dir string) Config {
	p := freePorts(t, 2)
	cfg := DefaultConfig()
	cfg.Name = "sm1"
	cfg.Listen = "127.0.0.1:0"
	cfg.HTTP = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.EtcdClientURL = fmt.Sprintf("http://127.0.0.1:%d", p[0])
	cfg.EtcdPeerURL = fmt.Sprintf("http://127.0.0.1:%d", p[1])
	cfg.InitialCluster = "sm1=" + cfg.EtcdPeerURL
	cfg.SessionTTL = 2 * time.Second
	cfg.NodeDeadAfter = 3 * time.Second
	cfg.SealTimeout = 2 * time.Second
	cfg.Conn.DialTimeout = time.Second
	return cfg
}

func startManager(t *testing.T, cfg Config) *Manager {
	t.Helper()
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// waitLeader waits until m leads.
func waitLeader(t *testing.T, m *Manager) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !m.IsLeader() {
		if time.Now().After(deadline) {
			t.Fatal("no leader after 15s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startNodes starts n real extent-nodes in this process.
func startNodes(t *testing.T, n int) []*node.Node {
	t.Helper()
	root := t.TempDir()
	var nodes []*node.Node
	for i := range n {
		cfg := node.DefaultConfig()
		cfg.Listen, cfg.HTTP = "127.0.0.1:0", ""
		cfg.Disks = []string{filepath.Join(root, fmt.Sprintf("node%d", i+1))}
		cfg.StreamManagers = nil
		nd, err := node.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := nd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nd.Stop)
		nodes = append(nodes, nd)
	}
	return nodes
}

// smClient dials the manager.
func smClient(t *testing.T, m *Manager) clogspb.StreamManagerClient {
	t.Helper()
	pool, err := conn.NewPool(conn.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	cc, err := pool.Get(context.Background(), m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return clogspb.NewStreamManagerClient(cc)
}

// registerNodes registers nodes by hand (as their heartbeat loop would)
// and returns their IDs.
func registerNodes(t *testing.T, sm clogspb.StreamManagerClient, nodes []*node.Node) []uint64 {
	t.Helper()
	var ids []uint64
	for _, nd := range nodes {
		resp, err := sm.RegisterNode(context.Background(), &clogspb.RegisterNodeRequest{Uuid: uuid.NewString(), Addr: nd.Addr(),
			Disks: []*clogspb.DiskUsage{{TotalBytes: 100 << 30, FreeBytes: 50 << 30}}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, resp.NodeId)
	}
	return ids
}

type nodeClient struct{ clogspb.ExtentServiceClient }

func newNodeClient(t *testing.T, addr string) *nodeClient {
	t.Helper()
	pool, err := conn.NewPool(conn.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	cc, err := pool.Get(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return &nodeClient{clogspb.NewExtentServiceClient(cc)}
}
