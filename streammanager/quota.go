package streammanager

// etcd's space quota: when its database passes the quota, etcd raises the
// NOSPACE alarm and refuses every write until the alarm is disarmed. The
// manager does not exit: metadata writes fail with ErrMetadataFull (a
// clear ResourceExhausted to clients), reads keep working, and the
// leader's maintenance compacts the history, defragments each member and
// disarms the alarm, after which writes work again. If the live metadata
// itself fills the quota, the alarm comes back and the errors say so.

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ErrMetadataFull: etcd's database reached its space quota; metadata
// writes fail until the leader's maintenance reclaims space.
var ErrMetadataFull = errors.New("streammanager: metadata store is full (etcd space quota); writes resume after compaction")

// metadataWriteError wraps an etcd write error, naming a full database.
func metadataWriteError(err error) error {
	if errors.Is(err, rpctypes.ErrGRPCNoSpace) || errors.Is(err, rpctypes.ErrNoSpace) || rpctypes.ErrorDesc(err) == rpctypes.ErrorDesc(rpctypes.ErrGRPCNoSpace) {
		return fmt.Errorf("%w: %v", ErrMetadataFull, err)
	}
	return fmt.Errorf("metadata write: %w", err)
}

// reclaimSpace disarms a NOSPACE alarm after compacting etcd's history up
// to the current revision and defragmenting every member. It does nothing
// without the alarm.
func (m *Manager) reclaimSpace(ctx context.Context) {
	alarms, err := m.etcd.client.AlarmList(ctx)
	if err != nil {
		return
	}
	var nospace []*etcdserverpb.AlarmMember
	for _, a := range alarms.Alarms {
		if a.Alarm == etcdserverpb.AlarmType_NOSPACE {
			nospace = append(nospace, a)
		}
	}
	if len(nospace) == 0 {
		return
	}
	m.lg.Warn("etcd is out of space; compacting, defragmenting and disarming the alarm")
	get, err := m.etcd.client.Get(ctx, m.cfg.prefix()+idsKey)
	if err != nil {
		m.lg.Warn("reclaim space: read the revision", zap.Error(err))
		return
	}
	if _, err := m.etcd.client.Compact(ctx, get.Header.Revision, clientv3.WithCompactPhysical()); err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		m.lg.Warn("reclaim space: compact", zap.Error(err))
		return
	}
	for _, endpoint := range m.etcd.client.Endpoints() {
		if _, err := m.etcd.client.Defragment(ctx, endpoint); err != nil {
			m.lg.Warn("reclaim space: defragment", zap.String("endpoint", endpoint), zap.Error(err))
			return
		}
	}
	for _, a := range nospace {
		if _, err := m.etcd.client.AlarmDisarm(ctx, (*clientv3.AlarmMember)(a)); err != nil {
			m.lg.Warn("reclaim space: disarm", zap.Error(err))
			return
		}
	}
	m.metrics.spaceReclaims.Inc()
	m.lg.Info("etcd space reclaimed; metadata writes resume", zap.Int64("compacted-at", get.Header.Revision))
}
