package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/clogs-io/clogs/clogs"
)

// paceTick is how often a paced handle wakes to send the lines that have
// come due: at 250,000 lines a second that is a batch of 250, and a
// thousand timer wakes a second per handle rather than one per line.
const paceTick = time.Millisecond

// ctxCheckEvery is how many lines an unpaced handle sends between looks
// at its context.
const ctxCheckEvery = 256

// benchFile is one file the bench writes, owned by one handle.
type benchFile struct {
	name string
	msg  []byte // the message; its sequence digits are rewritten per line
	// sent is how many of its lines were sent, so also the sequence
	// number of the last one. Written by the owning handle's goroutine
	// only, read after it ends.
	sent uint64
}

// handle is one sender and the files it sends to, in turn.
type handle struct {
	sender *clogs.Sender
	files  []*benchFile
	quota  int64   // lines to try; -1 for no limit
	rate   float64 // lines per second; 0 for as fast as possible
	next   int     // the file of the next line
	tried  int64   // lines tried: sent or failed
	// firstErr is the first error of a send, shown in the summary so
	// that errors have a cause.
	firstErr error
}

// send runs the load and returns its result and the files with their
// counts, for verify. progress gets a line a second.
func send(ctx context.Context, cfg clogs.SenderConfig, o *options, progress io.Writer) (*Result, []*benchFile, error) {
	run := newRunID()
	files := make([]*benchFile, o.files)
	for i := range files {
		msg, err := newMessage(run, o.msgLen, o.cards)
		if err != nil {
			return nil, nil, err
		}
		files[i] = &benchFile{name: fileName(o.filePrefix, i), msg: msg}
	}
	handles, err := openHandles(cfg, o, files)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		for _, h := range handles {
			h.sender.Close()
		}
	}()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.duration > 0 {
		runCtx, cancel = context.WithTimeout(runCtx, o.duration)
		defer cancel()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, h := range handles {
		wg.Go(func() { h.run(runCtx, start, o.sys, o.msgType) })
	}
	reportDone := make(chan struct{})
	stopReport := make(chan struct{})
	go func() {
		defer close(reportDone)
		reportEverySecond(progress, handles, start, stopReport)
	}()
	wg.Wait()
	elapsed := time.Since(start)
	close(stopReport)
	<-reportDone

	r := &Result{RunID: run, Handles: o.handles, Files: o.files, MsgType: o.msgType, MsgLen: o.msgLen,
		TargetTPS: o.tps, Seconds: elapsed.Seconds(), Cards: o.cards}
	for _, h := range handles {
		st := h.sender.Stats()
		r.Sent += st.Sent
		r.Errors += st.Errors
		r.NoCollector += st.NoCollector
		r.Isolations += st.Isolations
		r.Recoveries += st.Recoveries
		if h.firstErr != nil && r.FirstError == "" {
			r.FirstError = h.firstErr.Error()
		}
	}
	r.TPS = float64(r.Sent) / elapsed.Seconds()
	r.Interrupted = ctx.Err() != nil
	return r, files, nil
}

// openHandles starts o.handles senders and deals the files out to them,
// with the lines of -n shared as evenly as the rate.
func openHandles(cfg clogs.SenderConfig, o *options, files []*benchFile) ([]*handle, error) {
	handles := make([]*handle, o.handles)
	for i := range handles {
		s, err := clogs.NewSender(cfg)
		if err != nil {
			for _, h := range handles[:i] {
				h.sender.Close()
			}
			return nil, err
		}
		h := &handle{sender: s, quota: -1, rate: float64(o.tps) / float64(o.handles)}
		if o.total > 0 {
			h.quota = o.total / int64(o.handles)
			if int64(i) < o.total%int64(o.handles) {
				h.quota++
			}
		}
		handles[i] = h
	}
	for i, f := range files {
		h := handles[i%len(handles)]
		h.files = append(h.files, f)
	}
	return handles, nil
}

// run sends the handle's lines until its quota or ctx ends.
func (h *handle) run(ctx context.Context, start time.Time, sys, msgType string) {
	if h.rate == 0 {
		for ctx.Err() == nil && !h.quotaDone() {
			h.sendUpTo(h.tried+ctxCheckEvery, sys, msgType)
		}
		return
	}
	ticker := time.NewTicker(paceTick)
	defer ticker.Stop()
	for {
		due := int64(h.rate * time.Since(start).Seconds())
		for h.tried < due && !h.quotaDone() {
			h.sendUpTo(min(due, h.tried+ctxCheckEvery), sys, msgType)
			if ctx.Err() != nil {
				return
			}
		}
		if h.quotaDone() {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (h *handle) quotaDone() bool { return h.quota >= 0 && h.tried >= h.quota }

// sendUpTo sends lines until tried reaches n or the quota. A line that
// fails keeps its sequence number for the file's next line.
func (h *handle) sendUpTo(n int64, sys, msgType string) {
	if h.quota >= 0 {
		n = min(n, h.quota)
	}
	for ; h.tried < n; h.tried++ {
		f := h.files[h.next]
		if h.next++; h.next == len(h.files) {
			h.next = 0
		}
		setSeq(f.msg, f.sent+1)
		if err := h.sender.Send(sys, msgType, f.name, 0, f.msg); err == nil {
			f.sent++
		} else if h.firstErr == nil {
			h.firstErr = err
		}
	}
}

// reportEverySecond prints, each second until stop, the lines sent and
// failed in that second and the live collectors.
func reportEverySecond(w io.Writer, handles []*handle, start time.Time, stop <-chan struct{}) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	var lastSent, lastErrors uint64
	last := start
	for {
		select {
		case <-stop:
			return
		case now := <-ticker.C:
			var sent, errs uint64
			liveMin, liveMax, total := -1, 0, 0
			for _, h := range handles {
				st := h.sender.Stats()
				sent += st.Sent
				errs += st.Errors
				if liveMin < 0 || st.Live < liveMin {
					liveMin = st.Live
				}
				liveMax, total = max(liveMax, st.Live), st.Collectors
			}
			live := fmt.Sprint(liveMin)
			if liveMax != liveMin {
				live = fmt.Sprintf("%d-%d", liveMin, liveMax)
			}
			perSecond := float64(sent-lastSent) / now.Sub(last).Seconds()
			fmt.Fprintf(w, "[%4.0fs] sent/s %9.0f  errors %d  live %s/%d\n",
				now.Sub(start).Seconds(), perSecond, errs-lastErrors, live, total)
			lastSent, lastErrors, last = sent, errs, now
		}
	}
}
