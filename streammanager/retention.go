package streammanager

import (
	"cmp"
	"context"
	"time"

	"go.uber.org/zap"

	clogspb "github.com/clogs-io/clogs/proto"
)

// Retention: a stream's policy (StreamPolicy) drops whole sealed extents
// from the front of the stream, by age (since the seal) or by the stream's
// sealed bytes. The tail is never dropped. Dropped extents become
// unreferenced files on their nodes and are deleted after GCGrace, like
// any other.

// applyRetention truncates every stream whose policy says so.
func (m *Manager) applyRetention(ctx context.Context, now time.Time) {
	for _, cut := range m.retentionCuts(now) {
		if ctx.Err() != nil {
			return
		}
		resp, err := m.truncateStream(cut.stream, cut.firstKept)
		if err != nil {
			m.lg.Warn("retention: truncate failed", zap.Uint64("stream", cut.stream), zap.Error(err))
			continue
		}
		m.metrics.extentsTruncated.Add(float64(cut.dropped))
		m.lg.Info("retention dropped sealed extents", zap.String("stream", resp.GetStream().GetName()), zap.Int("extents", cut.dropped), zap.Uint64("first-kept", cut.firstKept))
	}
}

type retentionCut struct {
	stream, firstKept uint64
	dropped           int
}

// retentionCuts finds, for each stream with a policy, the first extent to
// keep when some must go.
func (m *Manager) retentionCuts(now time.Time) []retentionCut {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.term == nil {
		return nil
	}
	var cuts []retentionCut
	for _, s := range m.cache.streams {
		p := s.GetPolicy()
		if p.GetMaxAgeSeconds() == 0 && p.GetMaxBytes() == 0 {
			continue
		}
		if drop := m.retiredLocked(s, p, now); drop > 0 {
			cuts = append(cuts, retentionCut{stream: s.Id, firstKept: s.ExtentIds[drop], dropped: drop})
		}
	}
	return cuts
}

// retiredLocked counts the extents at the front of s that its policy
// drops; never the last one.
func (m *Manager) retiredLocked(s *clogspb.StreamMeta, p *clogspb.StreamPolicy, now time.Time) int {
	var sealedBytes uint64
	for _, id := range s.ExtentIds {
		if e := m.cache.extents[id]; e != nil && e.Sealed {
			sealedBytes += e.SealedLength
		}
	}
	drop := 0
	for drop < len(s.ExtentIds)-1 {
		e := m.cache.extents[s.ExtentIds[drop]]
		if e == nil || !e.Sealed {
			break
		}
		sealedAt := cmp.Or(e.SealedUnixNano, e.CreatedUnixNano) // created: sealed before seal times were kept
		tooOld := p.GetMaxAgeSeconds() > 0 && now.Sub(time.Unix(0, sealedAt)) > time.Duration(p.GetMaxAgeSeconds())*time.Second
		tooBig := p.GetMaxBytes() > 0 && sealedBytes > p.GetMaxBytes()
		if !tooOld && !tooBig {
			break
		}
		sealedBytes -= e.SealedLength
		drop++
	}
	return drop
}
