package streammanager

import (
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	clogspb "github.com/clogs-io/clogs/proto"
)

// streamNamePattern: 1-255 bytes of [A-Za-z0-9._/-] (DESIGN.md).
var streamNamePattern = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,255}$`)

// ValidateStreamName says why name cannot name a stream, if so.
func ValidateStreamName(name string) error {
	if !streamNamePattern.MatchString(name) {
		return fmt.Errorf("%w: stream name %q: want 1-255 bytes of [A-Za-z0-9._/-]", ErrBadRequest, name)
	}
	return nil
}

func mustMarshal(m proto.Message) string {
	b, err := proto.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("streammanager: marshal %T: %v", m, err)) // our own messages always marshal
	}
	return string(b)
}

// createStream returns the stream named name, creating it with policy
// if needed.
func (m *Manager) createStream(name string, policy *clogspb.StreamPolicy) (*clogspb.StreamResponse, error) {
	if err := ValidateStreamName(name); err != nil {
		return nil, err
	}
	if err := m.validatePolicy(policy); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t, err := m.leaderLocked()
	if err != nil {
		return nil, err
	}
	if id, ok := m.cache.names[name]; ok {
		return m.cache.layout(m.cache.streams[id]), nil
	}
	id, err := m.reserveIDsLocked(t, 1)
	if err != nil {
		return nil, err
	}
	s := &clogspb.StreamMeta{Id: id, Name: name, CreatedUnixNano: time.Now().UnixNano(), Policy: policy}
	nameKey := m.cfg.prefix() + streamNamesDir + name
	_, err = m.commitLocked(t, []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(nameKey), "=", 0)},
		clientv3.OpPut(m.cfg.prefix()+idKey(streamsDir, id), mustMarshal(s)),
		clientv3.OpPut(nameKey, fmt.Sprint(id)))
	if err != nil {
		return nil, err
	}
	m.cache.putStream(s)
	return m.cache.layout(s), nil
}

// validatePolicy refuses limits that cannot mean anything, and a coding
// the live nodes cannot hold (which only the leader knows).
func (m *Manager) validatePolicy(p *clogspb.StreamPolicy) error {
	if p.GetMaxAgeSeconds() < 0 {
		return fmt.Errorf("%w: max age %ds is negative", ErrBadRequest, p.GetMaxAgeSeconds())
	}
	if !m.IsLeader() {
		return &NotLeaderError{}
	}
	return m.validateCoding(p)
}

// setStreamPolicy replaces a stream's policy; the reconciliation loop
// applies it.
func (m *Manager) setStreamPolicy(id uint64, policy *clogspb.StreamPolicy) (*clogspb.StreamResponse, error) {
	if err := m.validatePolicy(policy); err != nil {
		return nil, err
	}
	t, unlock, err := m.leadStream(id)
	defer unlock()
	if err != nil {
		return nil, err
	}
	s, err := m.streamLocked(id, "")
	if err != nil {
		return nil, err
	}
	updated := proto.Clone(s).(*clogspb.StreamMeta)
	updated.Policy = policy
	if _, err := m.commitLocked(t, nil, clientv3.OpPut(m.cfg.prefix()+idKey(streamsDir, id), mustMarshal(updated))); err != nil {
		return nil, err
	}
	m.cache.putStream(updated)
	return m.cache.layout(updated), nil
}

// streamLocked finds a stream by ID, or by name when id is 0.
func (m *Manager) streamLocked(id uint64, name string) (*clogspb.StreamMeta, error) {
	if id == 0 {
		var ok bool
		if id, ok = m.cache.names[name]; !ok {
			return nil, fmt.Errorf("%w: stream %q", ErrNotFound, name)
		}
	}
	s, ok := m.cache.streams[id]
	if !ok {
		return nil, fmt.Errorf("%w: stream %d", ErrNotFound, id)
	}
	return s, nil
}

// streamInfo returns a stream's layout.
func (m *Manager) streamInfo(id uint64, name string) (*clogspb.StreamResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.leaderLocked(); err != nil {
		return nil, err
	}
	s, err := m.streamLocked(id, name)
	if err != nil {
		return nil, err
	}
	return m.cache.layout(s), nil
}

// truncateStream drops a stream's extents before firstKept.
func (m *Manager) truncateStream(id, firstKept uint64) (*clogspb.StreamResponse, error) {
	t, unlock, err := m.leadStream(id)
	defer unlock()
	if err != nil {
		return nil, err
	}
	s, err := m.streamLocked(id, "")
	if err != nil {
		return nil, err
	}
	at := slices.Index(s.ExtentIds, firstKept)
	if at < 0 {
		return nil, fmt.Errorf("%w: extent %d is not in stream %d", ErrBadRequest, firstKept, id)
	}
	updated := proto.Clone(s).(*clogspb.StreamMeta)
	updated.ExtentIds = slices.Clone(s.ExtentIds[at:])
	ops := []clientv3.Op{clientv3.OpPut(m.cfg.prefix()+idKey(streamsDir, id), mustMarshal(updated))}
	for _, dropped := range s.ExtentIds[:at] {
		ops = append(ops, clientv3.OpDelete(m.cfg.prefix()+idKey(extentsDir, dropped)))
	}
	if _, err := m.commitLocked(t, nil, ops...); err != nil {
		return nil, err
	}
	for _, dropped := range s.ExtentIds[:at] {
		delete(m.cache.extents, dropped)
	}
	m.cache.putStream(updated)
	return m.cache.layout(updated), nil
}

// deleteStream removes a stream and its extents' metadata.
func (m *Manager) deleteStream(id uint64) (int64, error) {
	t, unlock, err := m.leadStream(id)
	defer unlock()
	if err != nil {
		return 0, err
	}
	s, err := m.streamLocked(id, "")
	if err != nil {
		return 0, err
	}
	ops := []clientv3.Op{
		clientv3.OpDelete(m.cfg.prefix() + idKey(streamsDir, id)),
		clientv3.OpDelete(m.cfg.prefix() + streamNamesDir + s.Name),
	}
	for _, e := range s.ExtentIds {
		ops = append(ops, clientv3.OpDelete(m.cfg.prefix()+idKey(extentsDir, e)))
	}
	rev, err := m.commitLocked(t, nil, ops...)
	if err != nil {
		return 0, err
	}
	for _, e := range s.ExtentIds {
		delete(m.cache.extents, e)
	}
	m.cache.deleteStream(s)
	return rev, nil
}

// leadStream takes stream id's lock, then mu (the lock order), and returns
// the term if this manager leads; unlock releases both, also after an
// error.
func (m *Manager) leadStream(id uint64) (t *term, unlock func(), err error) {
	lock := m.streamLock(id)
	lock.Lock()
	m.mu.Lock()
	unlock = func() {
		m.mu.Unlock()
		lock.Unlock()
	}
	t, err = m.leaderLocked()
	return t, unlock, err
}

// streamLock returns the lock that serializes layout changes of a stream.
func (m *Manager) streamLock(id uint64) *sync.Mutex {
	m.mu.Lock()
	defer m.mu.Unlock()
	l, ok := m.streamLocks[id]
	if !ok {
		l = &sync.Mutex{}
		m.streamLocks[id] = l
	}
	return l
}
