package node

import (
	"context"
	"sync"
	"time"
)

// throttleBurst is how many bytes a throttle lets through at once after
// being idle (at most one second's worth).
const throttleBurst = 1 << 20

// throttle bounds a byte rate shared by many goroutines: a token bucket
// that may go into debt, so that a caller asking for more than the burst
// (one large block) waits for it instead of failing. A nil throttle, or
// one with rate 0, never waits.
type throttle struct {
	rate  float64 // bytes per second
	burst float64

	mu     sync.Mutex
	tokens float64   // guarded by mu; negative is debt
	last   time.Time // guarded by mu
}

// newThrottle returns a throttle of bytesPerSecond; 0 means no bound.
func newThrottle(bytesPerSecond uint64) *throttle {
	if bytesPerSecond == 0 {
		return nil
	}
	burst := float64(min(bytesPerSecond, throttleBurst))
	return &throttle{rate: float64(bytesPerSecond), burst: burst, tokens: burst, last: time.Now()}
}

// wait takes n bytes from the bucket, and waits until the bucket is out
// of debt again or ctx ends.
func (t *throttle) wait(ctx context.Context, n uint64) error {
	if t == nil {
		return ctx.Err()
	}
	t.mu.Lock()
	now := time.Now()
	t.tokens = min(t.burst, t.tokens+now.Sub(t.last).Seconds()*t.rate)
	t.last = now
	t.tokens -= float64(n)
	var delay time.Duration
	if t.tokens < 0 {
		delay = time.Duration(-t.tokens / t.rate * float64(time.Second))
	}
	t.mu.Unlock()
	if delay == 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
