package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clogs-io/clogs/internal/proctest"
)

// lockedBuffer is a bytes.Buffer that a process writes while the test
// reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestInteractiveOnATerminal runs the real binary on a pseudo-terminal
// (util-linux script(1) provides one): the prompt shows the live
// collectors, a typed line is sent, and the history is kept.
func TestInteractiveOnATerminal(t *testing.T) {
	scriptPath, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) is not installed; the interactive interpreter is tested without a terminal")
	}
	bin := proctest.Build(t, ".")
	l := newListener(t)
	conf := writeConfig(t, l.conn.LocalAddr().String())
	home := t.TempDir()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, scriptPath, "-qec", bin+" -c "+conf, "/dev/null")
	cmd.Env = append(os.Environ(), "HOME="+home, "TERM=xterm")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// type writes a line once the output holds want, the text the last
	// line should have produced.
	typeAfter := func(want, text string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %q; the terminal shows:\n%s", want, out.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
		io.WriteString(stdin, text+"\n")
	}
	typeAfter("clogs [1/1 live]> ", "core txn term.log typed at a prompt")
	typeAfter("sent to c1", "quit")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v; the terminal shows:\n%s", err, out.String())
	}
	if got := l.wait(t, 1); got[0].msg != "typed at a prompt" || got[0].file != "term.log" {
		t.Fatalf("received %+v", got)
	}
	history, err := os.ReadFile(filepath.Join(home, historyFile))
	if err != nil || string(history) != "core txn term.log typed at a prompt\nquit\n" {
		t.Fatalf("history %q, %v", history, err)
	}
}
