package node

import "testing"

func TestPipelineStartsAnotherBatchOnlyForABatchsWorth(t *testing.T) {
	deps := &primaryDeps{maxInflight: 3, pipelineBytes: 100}
	queue := func(sizes ...uint64) []*clientAppend {
		var q []*clientAppend
		for _, s := range sizes {
			q = append(q, &clientAppend{size: s})
		}
		return q
	}
	cases := []struct {
		name     string
		inflight int
		queue    []*clientAppend
		want     bool
	}{
		{"idle pipeline starts at once", 0, queue(1), true},
		{"small queue waits for the batch in flight", 1, queue(40, 40), false},
		{"a batch's worth goes while one is in flight", 1, queue(40, 40, 20), true},
		{"never past the in-flight limit", 3, queue(1000), false},
	}
	for _, c := range cases {
		p := &pipeline{queue: c.queue, inflight: make([]*batch, c.inflight)}
		if got := p.mayStartLocked(deps); got != c.want {
			t.Errorf("%s: mayStart = %v, want %v", c.name, got, c.want)
		}
	}
}
