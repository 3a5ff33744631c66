package streammanager

import (
	"context"
	"testing"

	"go.uber.org/zap"

	clogspb "github.com/clogs-io/clogs/proto"
)

// TestExternalEtcd: with EtcdEndpoints the manager starts no member of its
// own and keeps its metadata in the given cluster, under its cluster
// prefix.
func TestExternalEtcd(t *testing.T) {
	etcdCfg := managerConfig(t, t.TempDir())
	external, err := startEmbedded(etcdCfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer external.Close()

	cfg := managerConfig(t, t.TempDir())
	cfg.EtcdEndpoints = []string{etcdCfg.EtcdClientURL}
	cfg.Cluster = "external-test"
	m := startManager(t, cfg)
	waitLeader(t, m)
	if m.etcd.embedded != nil {
		t.Fatal("the manager started its own etcd member")
	}
	sm := smClient(t, m)
	if _, err := sm.CreateStream(context.Background(), &clogspb.CreateStreamRequest{Name: "ext/log"}); err != nil {
		t.Fatal(err)
	}
	resp, err := m.etcd.client.Get(context.Background(), "/clogs/external-test/stream-names/ext/log")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("the stream is not in the external etcd: %v %v", resp, err)
	}
}
