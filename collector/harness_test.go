package collector

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/clogs-io/clogs/clogs"
	"github.com/clogs-io/clogs/internal/testcluster"
	"github.com/clogs-io/clogs/logblock"
	"github.com/clogs-io/clogs/node"
	"github.com/clogs-io/clogs/streamclient"
	"github.com/clogs-io/clogs/streammanager"
)

// cluster is a real stream manager (embedded etcd) and three real
// extent-nodes on 127.0.0.1.
type cluster struct {
	sm    *streammanager.Manager
	nodes []*node.Node
}

func startCluster(t testing.TB) *cluster {
	t.Helper()
	c := &cluster{sm: testcluster.StartManager(t, testcluster.ManagerConfig(t))}
	c.nodes, _ = testcluster.StartNodes(t, 3, testcluster.NodeConfig(nil, c.sm.Addr()))
	testcluster.WaitAlive(t, c.sm.Addr(), 3)
	return c
}

// testConfig is a collector on free ports of the cluster, flushing
// often so tests are quick.
func testConfig(c *cluster) Config {
	cfg := DefaultConfig()
	cfg.Listen, cfg.Syslog, cfg.HTTP = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Intake.Sockets = 2
	cfg.FlushInterval = 20 * time.Millisecond
	cfg.Client.Managers = []string{c.sm.Addr()}
	cfg.Client.CallTimeout = 5 * time.Second
	cfg.Client.Conn.DialTimeout = time.Second
	return cfg
}

func startCollector(t *testing.T, cfg Config) *Collector {
	t.Helper()
	col, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { col.Close() })
	return col
}

// sender sends clogs datagrams from one UDP socket.
type sender struct {
	t    *testing.T
	conn *net.UDPConn
	seq  uint32
}

func newSender(t *testing.T, to net.Addr) *sender {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, to.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &sender{t: t, conn: conn}
}

func (s *sender) log(sys, msgType, file, msg string) {
	s.t.Helper()
	s.seq++
	d := clogs.Datagram{Kind: clogs.KindLog, Seq: s.seq, SysID: []byte(sys), MsgType: []byte(msgType), FileName: []byte(file), Message: []byte(msg)}
	b, err := clogs.AppendEncode(nil, &d)
	if err != nil {
		s.t.Fatal(err)
	}
	s.raw(b)
}

func (s *sender) raw(b []byte) {
	s.t.Helper()
	if _, err := s.conn.Write(b); err != nil {
		s.t.Fatal(err)
	}
}

// waitStats waits until cond holds for the collector's stats.
func waitStats(t *testing.T, col *Collector, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := col.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; stats %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readLines reads the log records of stream name, dropping repeated
// blocks by (writer ID, batch sequence) as readers must.
func readLines(t *testing.T, smAddr, name string) []logblock.Record {
	t.Helper()
	cfg := streamclient.DefaultConfig()
	cfg.Managers = []string{smAddr}
	cl, err := streamclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := cl.OpenReader(ctx, name, streamclient.Address{}, false)
	if err != nil {
		t.Fatalf("open stream %s: %v", name, err)
	}
	last := map[[16]byte]uint64{}
	var out []logblock.Record
	for {
		blocks, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range blocks {
			records, h, err := logblock.Decode(b.Payload, b.UserData)
			if err != nil {
				t.Fatalf("block at %v: %v", b.Address, err)
			}
			if h.BatchSeq <= last[h.WriterID] {
				continue
			}
			last[h.WriterID] = h.BatchSeq
			out = append(out, records...)
		}
	}
}
