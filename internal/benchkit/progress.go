package benchkit

import (
	"fmt"
	"io"
	"time"
)

// Progress writes one line, prefixed with the benchmark's name and the
// time since it began, as each step starts.
type Progress struct {
	name  string
	w     io.Writer
	began time.Time
}

// NewProgress returns the progress of the benchmark name, written to w
// (nowhere if w is nil).
func NewProgress(name string, w io.Writer) *Progress {
	if w == nil {
		w = io.Discard
	}
	return &Progress{name: name, w: w, began: time.Now()}
}

// Start announces a step that takes about took.
func (p *Progress) Start(step string, took time.Duration) {
	fmt.Fprintf(p.w, "%s [%6s] %s (%v)\n", p.name, p.elapsed(), step, took)
}

// Note announces a step of unknown length.
func (p *Progress) Note(step string) {
	fmt.Fprintf(p.w, "%s [%6s] %s\n", p.name, p.elapsed(), step)
}

// Finish says how the run ended and that its directory goes away.
func (p *Progress) Finish(dir string, err error) {
	outcome := "done"
	if err != nil {
		outcome = "stopped"
	}
	p.Note(fmt.Sprintf("%s; removing %s", outcome, dir))
}

func (p *Progress) elapsed() string {
	return time.Since(p.began).Round(time.Second).String()
}
