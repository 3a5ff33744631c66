package streammanager

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	clogspb "github.com/clogs-io/clogs/proto"
)

// TestAllocIDConcurrentAndAcrossRestart: many concurrent AllocID calls
// of random sizes (some larger than the reserved batch), mixed with stream
// creations that take IDs from the same counter, never hand out an ID
// twice, also after the manager restarts on the same data.
func TestAllocIDConcurrentAndAcrossRestart(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	cfg := managerConfig(t, t.TempDir())

	var mu sync.Mutex
	var ranges []idRange
	round := func(sm clogspb.StreamManagerClient, tag string) {
		t.Helper()
		const goroutines, calls = 16, 50
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for g := range goroutines {
			wg.Go(func() {
				var mine []idRange
				for c := range calls {
					if c%25 == 0 { // a stream's ID comes from the same counter
						s, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: tag + "-" + string(rune('a'+g)) + "-" + string(rune('a'+c/25))})
						if err != nil {
							errs <- err
							return
						}
						mine = append(mine, idRange{s.Stream.Id, 1})
					}
					n := uint32(rand.IntN(64) + 1)
					if rand.IntN(10) == 0 {
						n = uint32(rand.IntN(1000) + 1)
					}
					resp, err := sm.AllocID(ctx, &clogspb.AllocIDRequest{Count: n})
					if err != nil {
						errs <- err
						return
					}
					if resp.Count != n {
						t.Errorf("asked for %d IDs, got %d", n, resp.Count)
					}
					mine = append(mine, idRange{resp.First, uint64(resp.Count)})
				}
				mu.Lock()
				ranges = append(ranges, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		checkDisjoint(t, ranges)
	}

	m1, close1 := openManager(t, cfg)
	waitLeader(t, m1)
	round(smClient(t, m1), "first")
	cfg.Listen = m1.Addr()
	close1()

	m2, _ := openManager(t, cfg)
	waitLeader(t, m2)
	round(smClient(t, m2), "second")
	if len(ranges) != 2*16*(50+2) {
		t.Fatalf("%d ranges", len(ranges))
	}
}
