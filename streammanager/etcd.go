package streammanager

import (
	"fmt"
	"net/url"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// etcdBackend is the etcd the manager keeps its metadata in: an embedded
// member it started, or an external cluster.
type etcdBackend struct {
	embedded *embed.Etcd // nil for an external cluster
	client   *clientv3.Client
}

// startEtcd starts the embedded member (or not) and connects a client.
func startEtcd(cfg Config, lg *zap.Logger) (*etcdBackend, error) {
	b := &etcdBackend{}
	endpoints := cfg.EtcdEndpoints
	if len(endpoints) == 0 {
		e, err := startEmbedded(cfg, lg)
		if err != nil {
			return nil, err
		}
		b.embedded = e
		endpoints = []string{cfg.EtcdClientURL}
	}
	client, err := clientv3.New(clientv3.Config{
		Endpoints: endpoints, DialTimeout: 5 * time.Second,
		Logger: lg.Named("etcd-client").WithOptions(zap.IncreaseLevel(zap.WarnLevel)),
	})
	if err != nil {
		b.close()
		return nil, fmt.Errorf("connect to etcd %v: %w", endpoints, err)
	}
	b.client = client
	return b, nil
}

// startEmbedded starts this manager's etcd member and waits until it is
// ready. Its logs go to the manager's logger at warn level and above.
func startEmbedded(cfg Config, lg *zap.Logger) (*embed.Etcd, error) {
	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = cfg.DataDir
	clientURL, err := url.Parse(cfg.EtcdClientURL)
	if err != nil {
		return nil, err
	}
	peerURL, err := url.Parse(cfg.EtcdPeerURL)
	if err != nil {
		return nil, err
	}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{*clientURL}, []url.URL{*clientURL}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{*peerURL}, []url.URL{*peerURL}
	ec.InitialCluster = cfg.InitialCluster
	ec.InitialClusterToken = "clogs-" + cfg.Cluster
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg.Named("etcd").WithOptions(zap.IncreaseLevel(zap.WarnLevel)))
	// Left at 0, etcd logs every request as slow; its own CLI sets this.
	ec.WarningUnaryRequestDuration = embed.DefaultWarningUnaryRequestDuration
	ec.QuotaBackendBytes = cfg.EtcdQuotaBytes
	ec.AutoCompactionMode = "periodic"
	ec.AutoCompactionRetention = "1h"
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", cfg.DataDir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s not ready after 60s (are the other members of %s up?)", cfg.DataDir, cfg.InitialCluster)
	}
}

// failed delivers the embedded member's fatal error; it never delivers
// for an external cluster.
func (b *etcdBackend) failed() <-chan error {
	if b.embedded == nil {
		return nil
	}
	return b.embedded.Err()
}

func (b *etcdBackend) close() {
	if b.client != nil {
		b.client.Close()
	}
	if b.embedded != nil {
		b.embedded.Close()
	}
}
