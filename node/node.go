// Package node is the extent-node: it keeps extents on its disks, serves
// the gRPC ExtentService, replicates every append from the primary to the
// two secondaries before acknowledging it, and exports metrics. It never
// decides placement or sealing on its own: the stream manager does.
//
// For healing it gives the manager what it needs to decide and carries out
// what it decides: full replica reports in heartbeats (smclient.go), the
// repair of a replica from a healthy one (repair.go), background
// verification of sealed extents that marks bad replicas damaged
// (scrub.go, damage.go), the deletion of orphans, and disks that refuse
// new extents above a high-water mark or after I/O errors (disk.go).
//
// For erasure-coded extents it codes a sealed replica into shards and
// holds, serves and deletes shard files (shards.go, shardrpc.go).
package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/clogs-io/clogs/conn"
	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
	"github.com/clogs-io/clogs/xlog"
)

// Node is a running extent-node.
//
// Lock order: mu before replica.mu (alloc and repair take a replica's lock
// while holding mu; nothing takes mu while holding a replica's lock).
// repairMu and shardMu are never held with another lock.
type Node struct {
	cfg     Config
	lg      *zap.Logger
	disks   []*disk
	pool    *conn.Pool
	metrics *metrics
	deps    *primaryDeps
	uuid    string // the node's identity, kept on its disks (smclient.go)

	mu       sync.RWMutex
	replicas map[uint64]*replica      // guarded by mu
	damaged  map[uint64]damagedExtent // extents that failed to open; guarded by mu

	// repairs holds, per extent under repair, a channel closed when that
	// repair ends: one repair per extent at a time (repair.go).
	repairMu       sync.Mutex
	repairs        map[uint64]chan struct{} // guarded by repairMu
	repairThrottle *throttle
	scrub          *scrubber // nil when scrubbing is off or before Start

	// Shards of erasure-coded extents (shards.go).
	shardMu sync.RWMutex
	shards  map[shardKey]*shardFile // guarded by shardMu
	putting map[shardKey]bool       // shards a PutShard is writing; guarded by shardMu

	nodeID       atomic.Uint64 // given by the stream manager; 0 until registered
	sm           *smClient     // nil without stream managers or before Start
	shuttingDown atomic.Bool
	grpcServer   *grpc.Server
	httpServer   *http.Server
	listener     net.Listener
	httpListener net.Listener
}

// New opens the disks and every extent on them. It does not listen yet.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg: cfg, lg: xlog.OrNop(cfg.Logger),
		replicas: make(map[uint64]*replica), damaged: make(map[uint64]damagedExtent),
		repairs: make(map[uint64]chan struct{}), repairThrottle: newThrottle(cfg.RepairRate),
		shards: make(map[shardKey]*shardFile), putting: make(map[shardKey]bool),
	}
	n.metrics = newMetrics(n)
	n.cfg.Extent.SyncObserver = n.metrics.observeSync
	n.cfg.Extent.Logger = n.lg
	for _, dir := range cfg.Disks {
		d, err := openDiskWith(dir, cfg.DiskStats)
		if err != nil {
			return nil, err
		}
		n.disks = append(n.disks, d)
	}
	id, err := loadNodeUUID(n.disks)
	if err != nil {
		return nil, err
	}
	n.uuid = id
	pool, err := conn.NewPool(cfg.Conn)
	if err != nil {
		return nil, err
	}
	n.pool = pool
	n.deps = &primaryDeps{
		maxInflight: cfg.MaxInflightBatches, maxBatchBytes: cfg.MaxBatchBytes, pipelineBytes: cfg.PipelineBytes,
		maxSize: cfg.Extent.MaxSize, timeout: cfg.ReplicaTimeout,
		send: n.sendReplicate, observe: n.metrics.observeBatch,
	}
	for _, d := range n.disks {
		n.loadDisk(d)
	}
	return n, nil
}

// loadDisk opens every extent file on d, and registers its shard files.
// Unsealed extents come back recovering: their replica set and acked end
// died with the old process.
func (n *Node) loadDisk(d *disk) {
	names, err := d.list()
	if err != nil {
		d.noteError(err)
		n.lg.Error("cannot list disk", zap.String("disk", d.path), zap.Error(err))
		return
	}
	var markers []uint64
	for _, name := range names {
		if base, isMarker := strings.CutSuffix(name, damagedSuffix); isMarker {
			if id, ok := extent.ParseFileName(base); ok {
				markers = append(markers, id)
			}
			continue
		}
		if n.loadShardFile(d, name) {
			continue
		}
		id, ok := extent.ParseFileName(name)
		if !ok {
			continue
		}
		n.loadExtent(d, id)
	}
	for _, id := range markers {
		n.loadMarker(d, id)
	}
}

func (n *Node) loadExtent(d *disk, id uint64) {
	if _, dup := n.replicas[id]; dup {
		n.lg.Error("extent on two disks; keeping the first", zap.Uint64("extent", id), zap.String("disk", d.path))
		return
	}
	ext, err := extent.Open(d.extentPath(id), n.cfg.Extent)
	if err == nil && ext.ID() != id {
		ext.Close()
		err = &extent.CorruptionError{ExtentID: id, Err: fmt.Errorf("file holds extent %d", ext.ID())}
	}
	if err != nil {
		d.noteError(err)
		n.damaged[id] = damagedExtent{disk: d, err: err}
		n.lg.Error("cannot open extent; left as it is for repair", zap.Uint64("extent", id), zap.String("disk", d.path), zap.Error(err))
		return
	}
	if torn := ext.Recovered(); torn != nil {
		n.lg.Warn("cut torn tail", zap.Uint64("extent", id), zap.Uint64("offset", torn.Offset), zap.Uint64("dropped", torn.Dropped))
	}
	r := newReplica(id, ext, d)
	r.recovering = !r.sealed
	n.replicas[id] = r
	d.addExtents(1)
}

// Start listens on the configured gRPC and HTTP addresses and serves in
// the background.
func (n *Node) Start() error {
	lis, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", n.cfg.Listen, err)
	}
	n.listener = lis
	n.grpcServer = grpc.NewServer(append(conn.ServerOptions(),
		// Decodes block payloads without copying them out of the message.
		grpc.ForceServerCodecV2(clogspb.Codec{}),
		grpc.ChainUnaryInterceptor(n.metrics.unaryInterceptor), grpc.ChainStreamInterceptor(n.metrics.streamInterceptor))...)
	clogspb.RegisterExtentServiceServer(n.grpcServer, &service{n: n})
	go n.grpcServer.Serve(lis)
	if n.cfg.HTTP != "" {
		if err := n.startHTTP(); err != nil {
			n.Stop()
			return err
		}
	}
	if len(n.cfg.StreamManagers) > 0 {
		n.sm = startSMClient(n)
	}
	if n.cfg.ScrubRate > 0 {
		n.scrub = startScrubber(n)
	}
	n.lg.Info("extent-node serving", zap.String("grpc", n.Addr()), zap.String("http", n.HTTPAddr()), zap.Int("extents", n.extentCount()), zap.String("uuid", n.uuid))
	return nil
}

func (n *Node) startHTTP() error {
	lis, err := net.Listen("tcp", n.cfg.HTTP)
	if err != nil {
		return fmt.Errorf("listen %s: %w", n.cfg.HTTP, err)
	}
	n.httpListener = lis
	mux := http.NewServeMux()
	mux.Handle("/metrics", n.metrics.handler())
	handleProfiles(mux)
	n.httpServer = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go n.httpServer.Serve(lis)
	return nil
}

// Addr is the gRPC address the node listens on.
func (n *Node) Addr() string {
	if n.listener == nil {
		return n.cfg.Listen
	}
	return n.listener.Addr().String()
}

// HTTPAddr is the metrics address, or "" when disabled.
func (n *Node) HTTPAddr() string {
	if n.httpListener == nil {
		return ""
	}
	return n.httpListener.Addr().String()
}

// Shutdown stops accepting requests, lets in-flight ones finish (until ctx
// ends; then they are cut), and closes every extent cleanly.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shuttingDown.Store(true)
	n.sm.stop()
	n.scrub.stop()
	if n.grpcServer != nil {
		done := make(chan struct{})
		go func() { n.grpcServer.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			n.grpcServer.Stop()
			<-done
		}
	}
	if n.httpServer != nil {
		n.httpServer.Shutdown(ctx)
	}
	return errors.Join(n.closeAll(), n.pool.Close())
}

// Stop cuts the node off at once, like a crash of its network side:
// connections drop and in-flight calls fail. Extents are then closed so the
// test process does not leak files. For tests.
func (n *Node) Stop() {
	n.shuttingDown.Store(true)
	n.sm.stop()
	n.scrub.stop()
	if n.grpcServer != nil {
		n.grpcServer.Stop()
	}
	if n.httpServer != nil {
		n.httpServer.Close()
	}
	n.closeAll()
	n.pool.Close()
}

func (n *Node) closeAll() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	var errs []error
	for id, r := range n.replicas {
		if err := r.ext.Close(); err != nil {
			errs = append(errs, fmt.Errorf("extent %d: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

func (n *Node) extentCount() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.replicas)
}

// replica returns the local replica of extent id.
func (n *Node) replica(id uint64) (*replica, error) {
	if n.shuttingDown.Load() {
		return nil, ErrShuttingDown
	}
	n.mu.RLock()
	defer n.mu.RUnlock()
	if r, ok := n.replicas[id]; ok {
		return r, nil
	}
	if damaged, ok := n.damaged[id]; ok {
		return nil, fmt.Errorf("extent %d: %w", id, damaged.err)
	}
	return nil, fmt.Errorf("extent %d: %w", id, ErrNotFound)
}

// alloc creates an empty extent as replicas[self]. Allocating again an
// empty extent with the same replica set succeeds and changes nothing.
func (n *Node) alloc(id uint64, set []*clogspb.Replica, self int) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r, ok := n.replicas[id]; ok {
		return r.reallocate(set, self)
	}
	if _, ok := n.damaged[id]; ok {
		return fmt.Errorf("extent %d: %w (a damaged file is in the way)", id, ErrExists)
	}
	_, err := n.createLocked(id, set, self)
	return err
}

// createLocked creates an empty extent file for extent id on the disk with
// the most room, as replicas[self].
func (n *Node) createLocked(id uint64, set []*clogspb.Replica, self int) (*replica, error) {
	d, err := pickDisk(n.disks, n.cfg.HighWaterMark)
	if err != nil {
		return nil, fmt.Errorf("extent %d: %w", id, err)
	}
	ext, err := extent.Create(d.extentPath(id), id, n.cfg.Extent)
	if err != nil {
		d.noteError(err)
		return nil, err
	}
	r := newReplica(id, ext, d)
	r.set, r.selfIndex = set, self
	n.replicas[id] = r
	d.addExtents(1)
	return r, nil
}

// damagedExtent is an extent file that failed to open: it stays on its
// disk, untouched, until it is repaired or deleted.
type damagedExtent struct {
	disk *disk
	err  error
}

// remove deletes extent id from this node, damaged or not.
func (n *Node) remove(id uint64) error {
	n.mu.Lock()
	r, ok := n.replicas[id]
	delete(n.replicas, id)
	damaged, isDamaged := n.damaged[id]
	delete(n.damaged, id)
	n.mu.Unlock()
	if isDamaged {
		if err := removeFile(damaged.disk, id); err != nil {
			return err
		}
		return removeMarker(damaged.disk, id)
	}
	if !ok {
		return fmt.Errorf("extent %d: %w", id, ErrNotFound)
	}
	r.disk.addExtents(-1)
	r.mu.Lock()
	r.pipeline.failQueuedLocked(fmt.Errorf("extent %d: %w", id, ErrNotFound))
	r.mu.Unlock()
	if err := r.ext.Remove(); err != nil {
		r.disk.noteError(err)
		return err
	}
	// The marker goes after the file: a crash in between leaves a marker
	// without an extent, which the next start removes.
	return removeMarker(r.disk, id)
}

// sendReplicate sends one batch to a secondary.
func (n *Node) sendReplicate(ctx context.Context, addr string, req *clogspb.ReplicateBlocksRequest) error {
	cc, err := n.pool.Get(ctx, addr)
	if err != nil {
		return err
	}
	_, err = clogspb.NewExtentServiceClient(cc).ReplicateBlocks(ctx, req)
	return FromStatus(err)
}

// removeFile deletes an extent file that is not open, durably.
func removeFile(d *disk, id uint64) error {
	if err := os.Remove(d.extentPath(id)); err != nil {
		d.noteError(err)
		return fmt.Errorf("remove damaged extent %d: %w", id, err)
	}
	return syncDir(d.path)
}
