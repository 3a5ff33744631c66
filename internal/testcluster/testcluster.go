// Package testcluster starts real clogs parts in the test process: a stream
// manager with embedded etcd and extent-nodes on 127.0.0.1, for tests of the
// packages above them.
package testcluster

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/node"
	clogspb "github.com/clogs-io/clogs/proto"
	"github.com/clogs-io/clogs/streammanager"
)

// Heartbeat is the heartbeat interval of nodes made by NodeConfig.
const Heartbeat = 100 * time.Millisecond

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago.
func FreePorts(t testing.TB, n int) []int {
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

// ManagerConfig is the configuration of a one-member stream manager: gRPC
// on a free port, no HTTP, embedded etcd on free ports, data in a temp
// dir, and 2s session TTL, node-dead and seal timeouts.
func ManagerConfig(t testing.TB) streammanager.Config {
	t.Helper()
	p := FreePorts(t, 2)
	cfg := streammanager.DefaultConfig()
	cfg.Listen, cfg.HTTP, cfg.DataDir = "127.0.0.1:0", "", t.TempDir()
	cfg.EtcdClientURL = fmt.Sprintf("http://127.0.0.1:%d", p[0])
	cfg.EtcdPeerURL = fmt.Sprintf("http://127.0.0.1:%d", p[1])
	cfg.InitialCluster = "sm1=" + cfg.EtcdPeerURL
	cfg.SessionTTL, cfg.NodeDeadAfter, cfg.SealTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	cfg.Conn.DialTimeout = time.Second
	return cfg
}

// StartManager starts a stream manager with cfg and closes it when the
// test ends.
func StartManager(t testing.TB, cfg streammanager.Config) *streammanager.Manager {
	t.Helper()
	sm, err := streammanager.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := sm.Start(); err != nil {
		sm.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close() })
	return sm
}

// NodeConfig is the configuration of an extent-node on disks that
// registers with managers: gRPC on a free port, no HTTP, heartbeats every
// Heartbeat, 2s replica timeout and 1s dial timeout.
func NodeConfig(disks []string, managers ...string) node.Config {
	cfg := node.DefaultConfig()
	cfg.Listen, cfg.HTTP = "127.0.0.1:0", ""
	cfg.Disks = disks
	cfg.StreamManagers = managers
	cfg.HeartbeatInterval = Heartbeat
	cfg.ReplicaTimeout = 2 * time.Second
	cfg.Conn.DialTimeout = time.Second
	return cfg
}

// StartNode starts an extent-node with cfg and stops it when the test
// ends.
func StartNode(t testing.TB, cfg node.Config) *node.Node {
	t.Helper()
	nd, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := nd.Start(); err != nil {
		nd.Stop()
		t.Fatal(err)
	}
	t.Cleanup(nd.Stop)
	return nd
}

// StartNodes starts n extent-nodes with cfg, each on its own disk, a new
// dir nodeN under one temp dir; dirs[i] is node i's disk.
func StartNodes(t testing.TB, n int, cfg node.Config) (nodes []*node.Node, dirs []string) {
	t.Helper()
	root := t.TempDir()
	for i := range n {
		dir := filepath.Join(root, fmt.Sprintf("node%d", i+1))
		dirs = append(dirs, dir)
		cfg.Disks = []string{dir}
		nodes = append(nodes, StartNode(t, cfg))
	}
	return nodes, dirs
}

// WaitAlive waits up to 20s until the manager at smAddr sees at least n
// nodes alive.
func WaitAlive(t testing.TB, smAddr string, n int) {
	t.Helper()
	ccfg := conn.DefaultConfig()
	ccfg.DialTimeout = time.Second
	pool, err := conn.NewPool(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	nodesInfo := func() (*clogspb.NodesInfoResponse, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		cc, err := pool.Get(ctx, smAddr)
		if err != nil {
			return nil, err
		}
		return clogspb.NewStreamManagerClient(cc).NodesInfo(ctx, &clogspb.NodesInfoRequest{})
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := nodesInfo()
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
			t.Fatalf("%d of %d nodes alive after 20s (last error %v)", alive, n, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
