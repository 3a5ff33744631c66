package streamclient

import (
	clogspb "github.com/clogs-io/clogs/proto"
)

// The client keeps the newest layout it has seen of each stream, by the
// manager's metadata revision (etcd's store revision, which only grows).
// Every answer the manager gives about a stream passes through it, so a
// reader in the same process as the writer learns of a new extent the
// moment the writer does, without asking the manager; and an answer older
// than what is known (a reply that crossed a newer one) never moves a
// reader or writer back.

// noteLayout records resp if it is newer than the cached layout of its
// stream, and returns the newest of the two.
func (c *Client) noteLayout(resp *clogspb.StreamResponse) *clogspb.StreamResponse {
	if resp == nil || resp.Stream == nil {
		return resp
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cached := c.layouts[resp.Stream.Id]
	if cached != nil && cached.Revision > resp.Revision {
		return cached
	}
	if c.layouts == nil {
		c.layouts = map[uint64]*clogspb.StreamResponse{}
	}
	c.layouts[resp.Stream.Id] = resp
	return resp
}

// cachedLayout returns the newest known layout of stream id, if it is
// newer than revision; otherwise nil.
func (c *Client) cachedLayout(id uint64, revision int64) *clogspb.StreamResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cached := c.layouts[id]; cached != nil && cached.Revision > revision {
		return cached
	}
	return nil
}
