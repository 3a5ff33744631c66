package streammanager

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	clogspb "github.com/clogs-io/clogs/proto"
)

// Key layout under /clogs/<cluster>/ (DESIGN.md, "Metadata in etcd").
const (
	streamsDir     = "streams/"
	streamNamesDir = "stream-names/"
	extentsDir     = "extents/"
	nodesDir       = "nodes/"
	idsKey         = "ids"
	leaderDir      = "leader/"
)

// metaCache is the leader's in-memory copy of the metadata, loaded on
// election and updated after every committed write. etcd is the truth.
type metaCache struct {
	streams    map[uint64]*clogspb.StreamMeta
	names      map[string]uint64
	extents    map[uint64]*clogspb.ExtentMeta
	nodes      map[uint64]*clogspb.NodeMeta
	nodeByUUID map[string]uint64
	rev        int64
	// storedNextID is the ids key's value: IDs below it were reserved.
	storedNextID uint64
}

func newMetaCache() *metaCache {
	return &metaCache{
		streams: map[uint64]*clogspb.StreamMeta{}, names: map[string]uint64{},
		extents: map[uint64]*clogspb.ExtentMeta{}, nodes: map[uint64]*clogspb.NodeMeta{},
		nodeByUUID: map[string]uint64{}, storedNextID: 1,
	}
}

// load files one key-value pair from etcd into the cache.
func (c *metaCache) load(key string, value []byte) error {
	switch {
	case strings.HasPrefix(key, streamsDir):
		s := &clogspb.StreamMeta{}
		if err := proto.Unmarshal(value, s); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		c.putStream(s)
	case strings.HasPrefix(key, extentsDir):
		e := &clogspb.ExtentMeta{}
		if err := proto.Unmarshal(value, e); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		c.extents[e.Id] = e
	case strings.HasPrefix(key, nodesDir):
		n := &clogspb.NodeMeta{}
		if err := proto.Unmarshal(value, n); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		c.putNode(n)
	case key == idsKey:
		next, err := strconv.ParseUint(string(value), 10, 64)
		if err != nil {
			return fmt.Errorf("%s holds %q: %w", key, value, err)
		}
		c.storedNextID = next
	}
	return nil
}

func (c *metaCache) putStream(s *clogspb.StreamMeta) {
	c.streams[s.Id] = s
	c.names[s.Name] = s.Id
}

func (c *metaCache) putNode(n *clogspb.NodeMeta) {
	c.nodes[n.Id] = n
	c.nodeByUUID[n.Uuid] = n.Id
}

func (c *metaCache) deleteStream(s *clogspb.StreamMeta) {
	delete(c.streams, s.Id)
	delete(c.names, s.Name)
}

// layout returns a stream with its extents in order.
func (c *metaCache) layout(s *clogspb.StreamMeta) *clogspb.StreamResponse {
	resp := &clogspb.StreamResponse{Stream: proto.Clone(s).(*clogspb.StreamMeta), Revision: c.rev}
	for _, id := range s.ExtentIds {
		if e, ok := c.extents[id]; ok {
			resp.Extents = append(resp.Extents, c.resolved(e))
		}
	}
	return resp
}

// tail returns the stream's last extent ID, or 0.
func tail(s *clogspb.StreamMeta) uint64 {
	if len(s.ExtentIds) == 0 {
		return 0
	}
	return s.ExtentIds[len(s.ExtentIds)-1]
}

func idKey(dir string, id uint64) string { return dir + strconv.FormatUint(id, 10) }

// resolved is a copy of e with every replica at its node's current address.
func (c *metaCache) resolved(e *clogspb.ExtentMeta) *clogspb.ExtentMeta {
	e = proto.Clone(e).(*clogspb.ExtentMeta)
	for _, r := range append(slices.Clone(e.Replicas), e.GetErasure().GetShards()...) {
		if n, ok := c.nodes[r.NodeId]; ok {
			r.Addr = n.Addr
		}
	}
	return e
}
