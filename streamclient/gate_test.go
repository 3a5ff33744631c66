package streamclient

import (
	"context"
	"errors"
	"testing"

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
