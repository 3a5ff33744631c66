package vfs

import (
	"errors"
	"slices"
	"sync"
	"syscall"
	"testing"
)

// errorScenario runs a fixed sequence of operations through e, with
// uncounted reads in between, and returns the number of the step that
// failed, or -1.
func errorScenario(e *ErrorFS) (failed int, err error) {
	var f File
	steps := []func() error{
		func() error { return e.MkdirAll("d", 0o755) },
		func() (err error) { f, err = e.Create("d/a"); return err },
		func() error { return f.WritevAt([][]byte{[]byte("abc"), []byte("def")}, 0) },
		func() error { return f.Datasync() },
		func() error { return f.SetXattr("user.k", []byte("v")) },
		func() error { return f.Sync() },
		func() error { return e.SyncDir("d") },
		func() error { return f.Truncate(2) },
		func() error { return f.Allocate(0, 10) },
		func() error { return f.Close() },
		func() error { _, err := e.List("d"); return err },
		func() (err error) { f, err = e.OpenReadOnly("d/a"); return err },
		func() (err error) { f, err = e.Open("d/a"); return err },
		func() error { return e.Remove("d/a") },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			return i, err
		}
		if f != nil {
			f.ReadAt(make([]byte, 1), 0)
			f.Size()
			f.GetXattr("user.k")
			f.Name()
		}
	}
	return -1, nil
}

const scenarioOps = 14

func TestErrorFSFailsExactlyTheNthOp(t *testing.T) {
	for failAt := int64(-1); failAt <= scenarioOps; failAt++ {
		e := NewErrorFS(NewMem(), failAt)
		failed, err := errorScenario(e)
		wantFailed, wantOps := int(failAt), failAt+1
		if failAt < 0 || failAt >= scenarioOps {
			wantFailed, wantOps = -1, scenarioOps
		}
		if failed != wantFailed || e.Ops() != wantOps || e.Injected() != (wantFailed >= 0) {
			t.Errorf("failAt %d: failed step %d (%v), ops %d, injected %v; want step %d, ops %d",
				failAt, failed, err, e.Ops(), e.Injected(), wantFailed, wantOps)
		}
		if wantFailed >= 0 && !errors.Is(err, ErrInjected) {
			t.Errorf("failAt %d: error %v does not wrap ErrInjected", failAt, err)
		}
	}
}

func TestErrorFSFailedOpDoesNotReachInner(t *testing.T) {
	tests := []struct {
		name   string
		failAt int64
		check  func(t *testing.T, m *MemFS)
	}{
		{"Create", 1, func(t *testing.T, m *MemFS) {
			if names, _ := m.List("d"); len(names) != 0 {
				t.Errorf("inner has %q", names)
			}
		}},
		{"WritevAt", 2, func(t *testing.T, m *MemFS) {
			if got := contents(t, m, "d")["a"]; got != "" {
				t.Errorf("inner file = %q, want empty", got)
			}
		}},
		{"Datasync", 3, func(t *testing.T, m *MemFS) {
			must(t, m.SyncDir("d"))
			if got := contents(t, m.Crash(), "d")["a"]; got != "" {
				t.Errorf("after crash: %q, want empty (not synced)", got)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMem()
			errorScenario(NewErrorFS(m, tt.failAt))
			tt.check(t, m)
		})
	}
}

func TestErrorFSErrorNamesTheOp(t *testing.T) {
	e := NewErrorFS(NewMem(), 3)
	_, err := errorScenario(e)
	if want := "Datasync d/a: vfs: injected error (operation 3)"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

// TestErrorFSWrapsTheGivenErrno: with SetErr the injected failure is
// both ErrInjected and the errno, so code that treats ENOSPC or EIO
// specially can be tested; SetErr(nil) goes back to ErrInjected alone.
func TestErrorFSWrapsTheGivenErrno(t *testing.T) {
	e := NewErrorFS(NewMem(), 2)
	e.SetErr(syscall.ENOSPC)
	_, err := errorScenario(e)
	if !errors.Is(err, ErrInjected) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("error %v does not wrap both ErrInjected and ENOSPC", err)
	}
	if want := "WritevAt d/a: vfs: injected error: no space left on device (operation 2)"; err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
	e = NewErrorFS(NewMem(), 2)
	e.SetErr(syscall.EIO)
	e.SetErr(nil)
	if _, err := errorScenario(e); !errors.Is(err, ErrInjected) || errors.Is(err, syscall.EIO) {
		t.Fatalf("after SetErr(nil): %v", err)
	}
}

func TestErrorFSBeforeOpHook(t *testing.T) {
	e := NewErrorFS(NewMem(), 4)
	var ops []string
	e.SetBeforeOp(func(op string, index int64) {
		if index != int64(len(ops)) {
			t.Errorf("op %s has index %d, want %d", op, index, len(ops))
		}
		ops = append(ops, op)
	})
	errorScenario(e)
	want := []string{"MkdirAll", "Create", "WritevAt", "Datasync", "SetXattr"}
	if !slices.Equal(ops, want) {
		t.Errorf("hook saw %q, want %q", ops, want)
	}
}

func TestErrorFSPartialWrites(t *testing.T) {
	tests := []struct {
		partial bool
		want    string
	}{
		{false, ""},
		{true, "abc"}, // half of "abcdef"
	}
	for _, tt := range tests {
		m := NewMem()
		e := NewErrorFS(m, 2)
		e.SetPartialWrites(tt.partial)
		if failed, _ := errorScenario(e); failed != 2 {
			t.Fatalf("partial=%v: failed step %d, want the write (2)", tt.partial, failed)
		}
		if got := contents(t, m, "d")["a"]; got != tt.want {
			t.Errorf("partial=%v: inner file = %q, want %q", tt.partial, got, tt.want)
		}
	}
}

func TestFirstBytes(t *testing.T) {
	bufs := [][]byte{[]byte("ab"), nil, []byte("cde"), []byte("f")}
	for n, want := range []string{"", "a", "ab", "abc", "abcd", "abcde", "abcdef"} {
		if got := string(slices.Concat(firstBytes(bufs, n)...)); got != want {
			t.Errorf("firstBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestErrorFSConcurrentCount(t *testing.T) {
	e := NewErrorFS(NewMem(), 50)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failures := 0
	for range 10 {
		wg.Go(func() {
			for range 10 {
				if _, err := e.List("."); errors.Is(err, ErrInjected) {
					mu.Lock()
					failures++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if e.Ops() != 100 || failures != 1 || !e.Injected() {
		t.Errorf("ops %d, failures %d, injected %v; want 100, 1, true", e.Ops(), failures, e.Injected())
	}
}
