package node

import (
	"context"
	"testing"
	"time"
)

// TestThrottleBoundsTheRate: after the burst, bytes go through at the
// rate, shared between callers; a block larger than the burst waits for
// it instead of failing; a cancelled wait returns at once; rate 0 never
// waits.
func TestThrottleBoundsTheRate(t *testing.T) {
	const rate = 32 << 20 // burst 1 MiB
	th := newThrottle(rate)
	ctx := context.Background()
	began := time.Now()
	for range 4 {
		if err := th.wait(ctx, 512<<10); err != nil {
			t.Fatal(err)
		}
	}
	// 2 MiB at 32 MiB/s with a 1 MiB burst: at least 1/32 s.
	if took := time.Since(began); took < 25*time.Millisecond {
		t.Fatalf("2 MiB at 32 MiB/s took %v", took)
	}
	if err := th.wait(ctx, 2<<20); err != nil { // larger than the burst
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	began = time.Now()
	if err := th.wait(cancelled, 4<<20); err == nil || time.Since(began) > 50*time.Millisecond {
		t.Fatalf("a cancelled wait: %v after %v", err, time.Since(began))
	}
	unbounded := newThrottle(0)
	if unbounded != nil || unbounded.wait(ctx, 1<<40) != nil {
		t.Fatal("rate 0 throttles")
	}
}
