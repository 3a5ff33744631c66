package extentbench

import (
	"runtime/metrics"
	"time"
)

// heapMetric is the Go heap held by objects, live or not yet swept.
const heapMetric = "/memory/classes/heap/objects:bytes"

// heapSampleInterval is how often the heap sampler looks.
const heapSampleInterval = 50 * time.Millisecond

// heapSampler records the peak of heapMetric until stopped.
type heapSampler struct {
	stop chan struct{}
	done chan uint64
}

// startHeapSampler samples the heap now and then every
// heapSampleInterval.
func startHeapSampler() *heapSampler {
	s := &heapSampler{stop: make(chan struct{}), done: make(chan uint64, 1)}
	go s.sample()
	return s
}

func (s *heapSampler) sample() {
	ticker := time.NewTicker(heapSampleInterval)
	defer ticker.Stop()
	peak := heapObjectBytes()
	for {
		select {
		case <-ticker.C:
			peak = max(peak, heapObjectBytes())
		case <-s.stop:
			s.done <- max(peak, heapObjectBytes())
			return
		}
	}
}

// Stop ends sampling and returns the peak, in bytes.
func (s *heapSampler) Stop() uint64 {
	close(s.stop)
	return <-s.done
}

// heapObjectBytes reads heapMetric; 0 if this runtime lacks it.
func heapObjectBytes() uint64 {
	sample := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}
