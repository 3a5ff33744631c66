package streamclient

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/clogs-io/clogs/extent"
)

// TestAbandonSaysWhetherTheBlocksMayLand: a caller that gives up on a
// queued call learns that nothing was written, unless an earlier request
// of the call failed without saying whether its blocks landed (a shared
// writer's retry); a call in flight may land either way. The call is not
// sent afterwards.
func TestAbandonSaysWhetherTheBlocksMayLand(t *testing.T) {
	for _, tc := range []struct {
		name                string
		queued, maybeLanded bool
		wantUnknown         bool
	}{
		{"queued, never sent", true, false, false},
		{"queued again after a failed request", true, true, true},
		{"in flight", false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call := &writeCall{blocks: []extent.Block{{Payload: []byte("x")}}, done: make(chan struct{}), maybeLanded: tc.maybeLanded}
			other := &writeCall{blocks: []extent.Block{{Payload: []byte("y")}}, done: make(chan struct{})}
			queue := []*writeCall{other}
			if tc.queued {
				queue = append(queue, call)
			}
			err := abandonLocked(&queue, call, context.Canceled)
			if !errors.Is(err, context.Canceled) || errors.Is(err, ErrOutcomeUnknown) != tc.wantUnknown {
				t.Fatalf("abandon: %v; want the cause, and outcome unknown %v", err, tc.wantUnknown)
			}
			if len(queue) != 1 || queue[0] != other {
				t.Fatalf("queue after abandon holds %d calls, want only the other one", len(queue))
			}
			if !call.gaveUp {
				t.Fatal("the call is not marked as given up")
			}
		})
	}
}

// TestGateHoldsOnlyForCallersThatComeBack: the gate holds a request for
// the callers an answer released while they do come back (callers keeping
// appends in flight), stops holding once they mostly do not (callers that
// append once each), and holds again when they return.
func TestGateHoldsOnlyForCallersThatComeBack(t *testing.T) {
	cfg := DefaultConfig()
	cfg.WriterLinger = time.Hour // every arrival is within it; no timer fires
	var mu sync.Mutex
	g := &sendGate{cfg: &cfg, mu: &mu, pump: func() {}}
	mu.Lock()
	defer mu.Unlock()
	answer := func(cameBack int) (held bool) {
		g.holdLocked(0, 8)
		held = g.returning > 0
		for range cameBack {
			g.arrivedLocked()
		}
		g.returning = 0 // what the linger's end does
		return held
	}
	for round := range 10 {
		if !answer(8) {
			t.Fatalf("closed loop, answer %d: not held though every caller came back", round)
		}
	}
	held := 0
	for range 10 {
		if answer(1) {
			held++
		}
	}
	if held > 2 {
		t.Fatalf("open loop: %d of 10 answers held with 1 caller of 8 coming back, want at most 2", held)
	}
	for range 10 {
		if answer(8) {
			return
		}
	}
	t.Fatal("closed loop again: no answer held in 10")
}
