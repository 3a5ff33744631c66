package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clogs-io/clogs/conn"
	clogspb "github.com/clogs-io/clogs/proto"
)

// nodeUUIDFile holds the node's UUID on every one of its disks: the stream
// manager knows the node by it, so a restarted node (at any address) keeps
// its node ID.
const nodeUUIDFile = "node-uuid"

const (
	// smCallTimeout bounds each call to a stream manager, dial included.
	smCallTimeout = 2 * time.Second
	// smWarnEvery is how often an unchanged failure to reach the stream
	// managers is logged again.
	smWarnEvery = 30 * time.Second
)

// loadNodeUUID reads the node's UUID from the disks that hold one, refuses
// disks that disagree (they belong to different nodes), makes a new UUID
// when no disk has one, and writes it durably to every disk lacking it.
func loadNodeUUID(disks []*disk) (string, error) {
	var id, from string
	var missing []*disk
	for _, d := range disks {
		path := filepath.Join(d.path, nodeUUIDFile)
		raw, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			missing = append(missing, d)
			continue
		}
		if err != nil {
			return "", fmt.Errorf("node UUID: %w", err)
		}
		got := strings.TrimSpace(string(raw))
		if _, err := uuid.Parse(got); err != nil {
			return "", fmt.Errorf("node UUID: %s holds %q, not a UUID", path, got)
		}
		if id != "" && got != id {
			return "", fmt.Errorf("node UUID: the disks belong to different nodes: %s holds %s but %s holds %s; start the node with only its own disks",
				filepath.Join(from, nodeUUIDFile), id, path, got)
		}
		id, from = got, d.path
	}
	if id == "" {
		id = uuid.NewString()
	}
	for _, d := range missing {
		if err := writeFileDurably(filepath.Join(d.path, nodeUUIDFile), []byte(id+"\n")); err != nil {
			return "", fmt.Errorf("node UUID: disk %s: %w", d.path, err)
		}
	}
	return id, nil
}

// UUID is the node's stable identity, kept on its disks.
func (n *Node) UUID() string { return n.uuid }

// NodeID is the ID the stream manager gave the node, or 0 until it has
// registered.
func (n *Node) NodeID() uint64 { return n.nodeID.Load() }

// smClient is the node's side of the stream manager protocol: it registers
// the node, then heartbeats every HeartbeatInterval with the node's disk
// usage and unsealed replicas, seals the replicas the manager says missed
// a seal, and deletes the extents it says no stream references. The first
// heartbeat after (re)registering, and every FullReportEvery-th after it,
// is a full report listing every replica on the disks in service. It
// follows the leader among the managers. Its failures are logged and
// retried; they never touch the data path.
type smClient struct {
	n      *Node
	lg     *zap.Logger
	addrs  []string
	cancel context.CancelFunc
	done   chan struct{}

	// The fields below belong to the loop goroutine.
	target     string // the manager believed to lead
	registered bool
	failing    logLimiter
	unknown    map[uint64]bool // unknown extents already logged
	// untilFull counts the heartbeats left before the next full report;
	// 0 or less: the next one is.
	untilFull int
}

// startSMClient starts the heartbeat loop; stop ends it.
func startSMClient(n *Node) *smClient {
	ctx, cancel := context.WithCancel(context.Background())
	c := &smClient{
		n: n, lg: n.lg.Named("sm-client"), addrs: slices.Clone(n.cfg.StreamManagers),
		cancel: cancel, done: make(chan struct{}), unknown: map[uint64]bool{},
		failing: logLimiter{every: smWarnEvery},
	}
	c.target = c.addrs[0]
	go c.run(ctx)
	return c
}

// stop ends the loop and waits for it. A nil client and a second stop do
// nothing.
func (c *smClient) stop() {
	if c == nil {
		return
	}
	c.cancel()
	<-c.done
}

func (c *smClient) run(ctx context.Context) {
	defer close(c.done)
	tick := time.NewTicker(c.n.cfg.HeartbeatInterval)
	defer tick.Stop()
	for {
		c.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// attempt is one failed call of a round, for the log.
type attempt struct {
	addr string
	err  error
}

// round registers (if needed) or heartbeats once, following a "not
// leader" answer to the leader it names, trying the next manager when one
// cannot answer, and registering again when the manager does not know the
// node. It tries each manager at most about once.
func (c *smClient) round(ctx context.Context) {
	var failed []attempt
	for range len(c.addrs) + 2 {
		if ctx.Err() != nil {
			return
		}
		addr := c.target
		err := c.call(ctx, addr)
		if err == nil {
			if c.failing.clear("sm") {
				c.lg.Info("stream manager answers again", zap.String("manager", addr))
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		reason, leader := smReason(err)
		switch {
		case reason == "not-leader" && leader != "" && leader != addr:
			c.target = leader
			failed = append(failed, attempt{addr, err})
			continue
		case reason == "not-found" && c.registered:
			// The manager does not know this node (its metadata was
			// lost, say): register again at once.
			c.lg.Info("the stream manager does not know this node; registering again", zap.String("manager", addr), zap.Uint64("node", c.n.NodeID()))
			c.registered = false
			continue
		}
		failed = append(failed, attempt{addr, err})
		if reason == "not-leader" || isUnreachable(err) {
			c.target = c.nextManager(addr)
			if c.target != addr {
				continue
			}
		}
		break
	}
	if len(failed) > 0 {
		c.logFailure(failed)
	}
}

// nextManager is the manager to try after addr failed: the next one in
// the list, or the first one after a leader that is not in the list.
func (c *smClient) nextManager(addr string) string {
	return c.addrs[(slices.Index(c.addrs, addr)+1)%len(c.addrs)]
}

// call registers the node or heartbeats once, against addr.
func (c *smClient) call(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, smCallTimeout)
	defer cancel()
	cc, err := c.n.pool.Get(ctx, addr)
	if err != nil {
		return err
	}
	sm := clogspb.NewStreamManagerClient(cc)
	if !c.registered {
		return c.register(ctx, sm, addr)
	}
	req := &clogspb.HeartbeatRequest{NodeId: c.n.NodeID(), Disks: c.n.diskUsage(), Unsealed: c.n.unsealedReports()}
	full := c.untilFull <= 0
	if full {
		req.FullReport, req.Replicas, req.Shards = true, c.n.replicaReports(), c.n.shardReports()
	}
	resp, err := sm.Heartbeat(ctx, req)
	if err != nil {
		return err // a full report that failed is sent again next time
	}
	if full {
		c.untilFull = c.n.cfg.FullReportEvery
	}
	c.untilFull--
	c.apply(resp)
	return nil
}

func (c *smClient) register(ctx context.Context, sm clogspb.StreamManagerClient, addr string) error {
	resp, err := sm.RegisterNode(ctx, &clogspb.RegisterNodeRequest{Uuid: c.n.uuid, Addr: c.n.Addr(), Disks: c.n.diskUsage()})
	if err != nil {
		return err
	}
	old := c.n.nodeID.Swap(resp.GetNodeId())
	c.registered = true
	c.untilFull = 0
	fields := []zap.Field{zap.Uint64("node", resp.GetNodeId()), zap.String("uuid", c.n.uuid), zap.String("addr", c.n.Addr()), zap.String("manager", addr)}
	if old != 0 && old != resp.GetNodeId() {
		c.lg.Warn("registered again under a new node ID", append(fields, zap.Uint64("old-node", old))...)
	} else {
		c.lg.Info("registered with the stream manager", fields...)
	}
	return nil
}

// apply carries out a heartbeat's answer: seal the replicas that missed a
// seal, delete the extents no stream references, and note extents the
// metadata does not know.
func (c *smClient) apply(resp *clogspb.HeartbeatResponse) {
	for _, id := range resp.GetDeleteExtents() {
		c.deleteOrphan(id)
	}
	for _, order := range resp.GetSeal() {
		key := fmt.Sprintf("seal/%d", order.GetExtentId())
		r, err := c.n.replica(order.GetExtentId())
		if err == nil {
			err = r.seal(order.GetLength())
		}
		if err != nil {
			if c.failing.allow(key, err.Error()) {
				c.lg.Warn("cannot seal a replica as the stream manager ordered", zap.Uint64("extent", order.GetExtentId()), zap.Uint64("length", order.GetLength()), zap.Error(err))
			}
			continue
		}
		c.failing.clear(key)
		c.lg.Info("sealed a replica that missed its seal", zap.Uint64("extent", order.GetExtentId()), zap.Uint64("length", order.GetLength()))
	}
	// Extents the metadata does not know are left alone (garbage
	// collection decides later; a fresh allocation may not be published
	// yet). Each is logged once while it stays unknown.
	unknown := make(map[uint64]bool, len(resp.GetUnknownExtents()))
	for _, id := range resp.GetUnknownExtents() {
		unknown[id] = true
		if !c.unknown[id] {
			c.lg.Info("the stream manager does not know this extent; keeping it", zap.Uint64("extent", id))
		}
	}
	c.unknown = unknown
}

// deleteOrphan deletes extent id, which the manager says no stream
// references, the way DeleteExtent does. It refuses, with a log line, while
// the node is the extent's primary with appends in flight or repairs it:
// the order then is stale or wrong, and a later heartbeat repeats it if
// not.
func (c *smClient) deleteOrphan(id uint64) {
	key := fmt.Sprintf("delete/%d", id)
	busy := ""
	if r, err := c.n.replica(id); err == nil && r.appendsInFlight() {
		busy = "the node is its primary with appends in flight"
	} else if c.n.repairing(id) {
		busy = "the node is repairing it"
	}
	if busy != "" {
		if c.failing.allow(key, busy) {
			c.lg.Info("not deleting an extent the stream manager says is orphaned", zap.Uint64("extent", id), zap.String("because", busy))
		}
		return
	}
	err := c.n.remove(id)
	if errors.Is(err, ErrNotFound) {
		return // gone already: an order repeated before the manager heard
	}
	if err != nil {
		if c.failing.allow(key, err.Error()) {
			c.lg.Warn("cannot delete an orphan extent", zap.Uint64("extent", id), zap.Error(err))
		}
		return
	}
	c.failing.clear(key)
	c.n.metrics.orphansDeleted.Inc()
	c.lg.Info("deleted orphan extent", zap.Uint64("extent", id))
}

// logFailure warns of a round that failed, unless the same failure was
// logged less than smWarnEvery ago.
func (c *smClient) logFailure(failed []attempt) {
	keys := make([]string, len(failed))
	managers := make([]string, len(failed))
	for i, a := range failed {
		keys[i] = a.addr + " " + failureKey(a.err)
		managers[i] = a.addr
	}
	if !c.failing.allow("sm", strings.Join(keys, "; ")) {
		return
	}
	last := failed[len(failed)-1]
	c.lg.Warn("cannot reach the leading stream manager; the node keeps serving and retries",
		zap.Strings("tried", managers), zap.Bool("registered", c.registered), zap.Error(last.err))
}

// unsealedReports lists the node's unsealed replicas with their commit
// lengths.
func (n *Node) unsealedReports() []*clogspb.ReplicaReport {
	n.mu.RLock()
	defer n.mu.RUnlock()
	var out []*clogspb.ReplicaReport
	for id, r := range n.replicas {
		if length, sealed := r.ext.Sealed(); !sealed {
			out = append(out, &clogspb.ReplicaReport{ExtentId: id, CommitLength: length})
		}
	}
	sortReports(out)
	return out
}

// replicaReports lists every extent on the disks in service for a full
// report: open replicas with their commit (or sealed) length, sealed
// state and damage, and extent files that failed to open, as damaged.
// Extents on failed disks are left out, so that the manager sees them
// missing and copies them elsewhere.
func (n *Node) replicaReports() []*clogspb.ReplicaReport {
	n.mu.RLock()
	replicas := make([]*replica, 0, len(n.replicas))
	for _, r := range n.replicas {
		replicas = append(replicas, r)
	}
	var out []*clogspb.ReplicaReport
	for id, d := range n.damaged {
		if d.disk.failed() == nil {
			out = append(out, &clogspb.ReplicaReport{ExtentId: id, Damaged: true})
		}
	}
	n.mu.RUnlock()
	for _, r := range replicas {
		if r.disk.failed() != nil {
			continue
		}
		length, sealed := r.ext.Sealed()
		out = append(out, &clogspb.ReplicaReport{ExtentId: r.id, CommitLength: length, Sealed: sealed, Damaged: r.damaged() != nil})
	}
	sortReports(out)
	return out
}

func sortReports(reports []*clogspb.ReplicaReport) {
	slices.SortFunc(reports, func(a, b *clogspb.ReplicaReport) int { return cmp.Compare(a.ExtentId, b.ExtentId) })
}

// smReason returns a stream manager error's reason and, for "not-leader",
// the leader it named. (Package streammanager maps these errors itself,
// but it imports this package.)
func smReason(err error) (reason, leader string) {
	st, ok := status.FromError(err)
	if !ok {
		return "", ""
	}
	for _, d := range st.Details() {
		if detail, ok := d.(*clogspb.ErrorDetail); ok {
			return detail.GetReason(), detail.GetLeader()
		}
	}
	return "", ""
}

// isUnreachable says whether err means the manager did not answer, so
// another one should be tried.
func isUnreachable(err error) bool {
	if errors.Is(err, conn.ErrNotReady) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}

// failureKey names a failure without the details (waited times, ...)
// that change from one try to the next.
func failureKey(err error) string {
	if errors.Is(err, conn.ErrNotReady) {
		return "unreachable"
	}
	if reason, _ := smReason(err); reason != "" {
		return reason
	}
	if st, ok := status.FromError(err); ok {
		return st.Code().String()
	}
	return err.Error()
}

// logLimiter lets a repeated message through only when it changes or
// after every has passed.
type logLimiter struct {
	every time.Duration
	last  map[string]loggedMessage
}

type loggedMessage struct {
	msg string
	at  time.Time
}

// allow reports whether msg under key should be logged now, and if so
// remembers it.
func (l *logLimiter) allow(key, msg string) bool {
	now := time.Now()
	if prev, ok := l.last[key]; ok && prev.msg == msg && now.Sub(prev.at) < l.every {
		return false
	}
	if l.last == nil {
		l.last = map[string]loggedMessage{}
	}
	l.last[key] = loggedMessage{msg: msg, at: now}
	return true
}

// clear forgets key, and reports whether a failure was remembered.
func (l *logLimiter) clear(key string) bool {
	_, ok := l.last[key]
	delete(l.last, key)
	return ok
}
