// Package streammanager is the stream manager: it keeps the metadata of
// streams, extents and nodes in etcd (an embedded member by default), is
// elected leader among its peers, and as leader places, allocates and
// seals extents and tracks node liveness. It never touches block data.
package streammanager

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/clogs-io/clogs/conn"
	clogspb "github.com/clogs-io/clogs/proto"
	"github.com/clogs-io/clogs/xlog"
)

// Manager is a running stream manager.
//
// Lock order: a stream's lock (streamLock) before mu. mu is never held
// across a call to an extent-node or etcd, except for the short guarded
// transactions that publish a change together with the cache update.
type Manager struct {
	cfg     Config
	lg      *zap.Logger
	etcd    *etcdBackend
	pool    *conn.Pool
	metrics *metrics

	mu          sync.Mutex
	term        *term                  // guarded by mu; nil when not leader
	cache       *metaCache             // guarded by mu; valid while term != nil
	nextID      uint64                 // guarded by mu; next ID of the reserved range
	idLimit     uint64                 // guarded by mu; end of the reserved range
	live        map[uint64]*nodeLive   // guarded by mu
	needRepair  map[uint64]uint64      // extent -> node reporting a short replica; guarded by mu
	streamLocks map[uint64]*sync.Mutex // guarded by mu

	// Reconciliation (reconcile.go), all guarded by mu and reset each term.
	reports         map[uint64]*nodeReport   // node -> its last full report
	orphans         map[nodeExtent]time.Time // unreferenced extent files, since when
	repairing       map[uint64]bool          // extents with a repair running
	repairFailures  map[nodeExtent]int       // in-place repairs that failed in a row
	shardReports    map[uint64]*shardReport  // node -> the shards it reported last (coding.go)
	shardOrphans    map[nodeShard]time.Time  // unreferenced shard files, since when
	shardDeletes    []nodeShard              // due for deletion
	underReplicated int                      // sealed extents not known whole on three live nodes, at the last pass

	ctx        context.Context
	cancel     context.CancelFunc
	closeOnce  sync.Once
	wg         sync.WaitGroup
	grpcServer *grpc.Server
	httpServer *http.Server
	listener   net.Listener
	httpLis    net.Listener
}

// term is one period of leadership.
type term struct {
	session  *concurrency.Session
	election *concurrency.Election
	began    time.Time
}

// guard is the condition of every metadata write: this manager's leader key
// still exists with the revision it was created at.
func (t *term) guard() clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(t.election.Key()), "=", t.election.Rev())
}

// New starts (or connects to) etcd. It does not serve or campaign yet.
func New(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lg := xlog.OrNop(cfg.Logger)
	backend, err := startEtcd(cfg, lg)
	if err != nil {
		return nil, err
	}
	pool, err := conn.NewPool(cfg.Conn)
	if err != nil {
		backend.close()
		return nil, err
	}
	m := &Manager{
		cfg: cfg, lg: lg, etcd: backend, pool: pool,
		live: map[uint64]*nodeLive{}, needRepair: map[uint64]uint64{}, streamLocks: map[uint64]*sync.Mutex{},
		reports: map[uint64]*nodeReport{}, orphans: map[nodeExtent]time.Time{}, repairing: map[uint64]bool{},
		repairFailures: map[nodeExtent]int{},
		shardReports:   map[uint64]*shardReport{}, shardOrphans: map[nodeShard]time.Time{},
	}
	m.metrics = newMetrics(m)
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m, nil
}

// Start listens on the gRPC and HTTP addresses and campaigns for
// leadership in the background.
func (m *Manager) Start() error {
	lis, err := net.Listen("tcp", m.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", m.cfg.Listen, err)
	}
	m.listener = lis
	m.grpcServer = grpc.NewServer(append(conn.ServerOptions(), grpc.ChainUnaryInterceptor(m.metrics.unaryInterceptor))...)
	clogspb.RegisterStreamManagerServer(m.grpcServer, &service{m: m})
	go m.grpcServer.Serve(lis)
	if m.cfg.HTTP != "" {
		if err := m.startHTTP(); err != nil {
			return err // the caller closes the manager
		}
	}
	m.wg.Add(1)
	go m.campaignLoop()
	m.lg.Info("stream manager serving", zap.String("grpc", m.Addr()), zap.String("http", m.HTTPAddr()), zap.String("cluster", m.cfg.Cluster))
	return nil
}

// Addr is the gRPC address; HTTPAddr the status address ("" if none).
func (m *Manager) Addr() string {
	if m.listener == nil {
		return m.cfg.Listen
	}
	return m.listener.Addr().String()
}

func (m *Manager) HTTPAddr() string {
	if m.httpLis == nil {
		return ""
	}
	return m.httpLis.Addr().String()
}

// Failed delivers an error if the embedded etcd member stops on its own
// (a disk error, a corrupt database): the manager can no longer work and
// its process should exit. It never delivers with external etcd.
func (m *Manager) Failed() <-chan error { return m.etcd.failed() }

// Close stops serving, resigns leadership and stops etcd. Call it also
// after a failed Start; closing twice is harmless.
func (m *Manager) Close() error {
	m.closeOnce.Do(m.close)
	return nil
}

func (m *Manager) close() {
	m.cancel()
	if m.grpcServer != nil {
		m.grpcServer.Stop()
	}
	if m.httpServer != nil {
		m.httpServer.Close()
	}
	m.wg.Wait()
	m.pool.Close()
	m.etcd.close()
}

// campaignLoop campaigns, leads until the session is lost, and campaigns
// again, until the manager closes.
func (m *Manager) campaignLoop() {
	defer m.wg.Done()
	for m.ctx.Err() == nil {
		if err := m.leadOnce(); err != nil && m.ctx.Err() == nil {
			m.lg.Warn("leadership attempt ended", zap.Error(err))
			select {
			case <-m.ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// leadOnce wins an election, loads the metadata, and serves as leader
// until the session ends or the manager closes.
func (m *Manager) leadOnce() error {
	ttl := int(m.cfg.SessionTTL / time.Second)
	session, err := concurrency.NewSession(m.etcd.client, concurrency.WithTTL(ttl), concurrency.WithContext(m.ctx))
	if err != nil {
		return fmt.Errorf("etcd session: %w", err)
	}
	defer session.Close()
	election := concurrency.NewElection(session, m.cfg.prefix()+leaderDir)
	if err := m.campaign(election); err != nil {
		return err
	}
	t := &term{session: session, election: election, began: time.Now()}
	if err := m.becomeLeader(t); err != nil {
		resignCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		election.Resign(resignCtx)
		cancel()
		return err
	}
	reconcileCtx, stopReconcile := context.WithCancel(m.ctx)
	var reconciler sync.WaitGroup
	reconciler.Go(func() { m.reconcileLoop(reconcileCtx) })
	defer reconciler.Wait()
	defer stopReconcile()
	select {
	case <-session.Done():
		m.stepDown(t, "session lost")
		return errors.New("leadership session lost")
	case <-m.ctx.Done():
		m.stepDown(t, "closing")
		resignCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return election.Resign(resignCtx)
	}
}

// campaign waits to win the election, or for the manager to close. On
// close it does not wait for Campaign to return: Campaign then resigns with
// the client's unbounded context, which without quorum blocks for etcd's
// request timeout; closing the client ends it.
func (m *Manager) campaign(election *concurrency.Election) error {
	won := make(chan error, 1)
	go func() { won <- election.Campaign(m.ctx, m.Addr()) }()
	select {
	case err := <-won:
		if err != nil {
			return fmt.Errorf("campaign: %w", err)
		}
		return nil
	case <-m.ctx.Done():
		return m.ctx.Err()
	}
}

// becomeLeader loads all metadata and publishes the term.
func (m *Manager) becomeLeader(t *term) error {
	ctx, cancel := context.WithTimeout(m.ctx, 30*time.Second)
	defer cancel()
	resp, err := m.etcd.client.Get(ctx, m.cfg.prefix(), clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("load metadata: %w", err)
	}
	cache := newMetaCache()
	for _, kv := range resp.Kvs {
		if err := cache.load(string(kv.Key[len(m.cfg.prefix()):]), kv.Value); err != nil {
			return fmt.Errorf("load metadata: %w", err)
		}
	}
	cache.rev = resp.Header.Revision
	m.mu.Lock()
	defer m.mu.Unlock()
	m.term, m.cache = t, cache
	m.nextID, m.idLimit = cache.storedNextID, cache.storedNextID
	m.reports, m.orphans, m.underReplicated = map[uint64]*nodeReport{}, map[nodeExtent]time.Time{}, 0
	m.repairFailures = map[nodeExtent]int{}
	m.shardReports, m.shardOrphans, m.shardDeletes = map[uint64]*shardReport{}, map[nodeShard]time.Time{}, nil
	m.lg.Info("became leader", zap.String("addr", m.Addr()), zap.Int("streams", len(cache.streams)), zap.Int("extents", len(cache.extents)), zap.Int("nodes", len(cache.nodes)), zap.Int64("revision", cache.rev))
	return nil
}

// stepDown stops serving writes at once.
func (m *Manager) stepDown(t *term, why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.term == t {
		m.term, m.cache = nil, nil
		m.lg.Warn("no longer leader", zap.String("why", why))
	}
}

// leaderLocked returns the current term, or a NotLeaderError.
// The leader's address is filled in by the service layer, outside mu
// (withLeader), since finding it reads etcd.
func (m *Manager) leaderLocked() (*term, error) {
	if m.term == nil {
		return nil, &NotLeaderError{}
	}
	return m.term, nil
}

// withLeader adds the current leader's address to a NotLeaderError.
func (m *Manager) withLeader(err error) error {
	var notLeader *NotLeaderError
	if errors.As(err, &notLeader) && notLeader.Leader == "" {
		return &NotLeaderError{Leader: m.leaderAddr()}
	}
	return err
}

// leaderAddr looks up the current leader's address in etcd, best effort.
func (m *Manager) leaderAddr() string {
	ctx, cancel := context.WithTimeout(m.ctx, time.Second)
	defer cancel()
	resp, err := m.etcd.client.Get(ctx, m.cfg.prefix()+leaderDir, clientv3.WithFirstCreate()...)
	if err != nil || len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// IsLeader reports whether this manager leads now.
func (m *Manager) IsLeader() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.term != nil
}

// commitLocked runs one guarded transaction; it is called with mu held so
// that the cache update that follows is in the same order as the writes.
// A failed guard ends this term.
func (m *Manager) commitLocked(t *term, extra []clientv3.Cmp, ops ...clientv3.Op) (int64, error) {
	ctx, cancel := context.WithTimeout(m.ctx, 5*time.Second)
	defer cancel()
	cmps := append([]clientv3.Cmp{t.guard()}, extra...)
	resp, err := m.etcd.client.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return 0, metadataWriteError(err)
	}
	if !resp.Succeeded {
		m.term, m.cache = nil, nil
		m.lg.Warn("metadata write refused by the leadership guard; stepping down")
		go t.session.Close() // ends leadOnce, which campaigns again
		return 0, &NotLeaderError{}
	}
	m.cache.rev = resp.Header.Revision
	return resp.Header.Revision, nil
}

// reserveIDsLocked hands out n consecutive IDs, reserving a new range in
// etcd by compare-and-swap when the current one runs out.
func (m *Manager) reserveIDsLocked(t *term, n uint64) (uint64, error) {
	if m.nextID+n > m.idLimit {
		stored := m.cache.storedNextID
		limit := stored + max(m.cfg.IDBatch, n)
		cmp := clientv3.Compare(clientv3.Value(m.cfg.prefix()+idsKey), "=", strconv.FormatUint(stored, 10))
		if stored == 1 {
			cmp = clientv3.Compare(clientv3.Version(m.cfg.prefix()+idsKey), "=", 0)
		}
		if _, err := m.commitLocked(t, []clientv3.Cmp{cmp}, clientv3.OpPut(m.cfg.prefix()+idsKey, strconv.FormatUint(limit, 10))); err != nil {
			return 0, fmt.Errorf("reserve IDs: %w", err)
		}
		m.cache.storedNextID = limit
		m.nextID, m.idLimit = max(m.nextID, stored), limit
	}
	first := m.nextID
	m.nextID += n
	return first, nil
}
