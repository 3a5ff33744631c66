package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/peterh/liner"
	"github.com/spf13/cobra"

	"github.com/clogs-io/clogs/clogs"
)

// historyFile is where the interactive mode keeps its history, in the
// home directory.
const historyFile = ".clogs_cli_history"

const interactiveHelp = `Type a log line to send it:

  SYS TYPE FILE MSG…    send MSG (the rest of the line); TYPE "-" is empty

Commands:

  status                the collectors: live or isolated, lines sent to each
  stats                 the sender's counters
  help                  this text
  quit, exit, Ctrl-D    leave

The prompt shows how many collectors are live. Up and down arrows walk the
history; Ctrl-R searches it; Ctrl-C abandons the line.
`

// repl carries out the lines typed at the interactive prompt.
type repl struct {
	sender  *clogs.Sender
	headLen uint16
	out     io.Writer
}

// prompt shows the live collectors, as of now.
func (r *repl) prompt() string {
	live, total := r.sender.Live()
	return fmt.Sprintf("clogs [%d/%d live]> ", live, total)
}

// exec carries out one line and reports whether it asks to quit.
func (r *repl) exec(text string) (quit bool) {
	switch strings.TrimSpace(text) {
	case "quit", "exit":
		return true
	case "help", "?":
		fmt.Fprint(r.out, interactiveHelp)
		return false
	case "status":
		r.status()
		return false
	case "stats":
		st := r.sender.Stats()
		fmt.Fprintf(r.out, "sent %d, errors %d (no live collector %d), isolations %d, recoveries %d, live %d/%d\n",
			st.Sent, st.Errors, st.NoCollector, st.Isolations, st.Recoveries, st.Live, st.Collectors)
		return false
	}
	l, err := parseLine(text)
	if err != nil {
		fmt.Fprintf(r.out, "error: %v (type help)\n", err)
		return false
	}
	if err := l.send(r.sender, r.headLen); err != nil {
		fmt.Fprintf(r.out, "error: %v\n", err)
		return false
	}
	fmt.Fprintf(r.out, "sent to %s\n", r.sender.CollectorFor(l.file))
	return false
}

// status prints a table of the collectors.
func (r *repl) status() {
	tw := tabwriter.NewWriter(r.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDR\tWEIGHT\tSTATE\tFAILED CHECKS\tSENT")
	for _, c := range r.sender.Collectors() {
		state := "live"
		if !c.Live {
			state = "isolated"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%d\n", c.Name, c.Addr, c.Weight, state, c.Failures, c.Sent)
	}
	tw.Flush()
}

// interactive runs the prompt on the terminal until quit, Ctrl-D or a
// signal, with line editing and a history kept in ~/.clogs_cli_history.
func interactive(cmd *cobra.Command, sender *clogs.Sender, o *options) error {
	term := liner.NewLiner()
	defer term.Close()
	term.SetCtrlCAborts(true)
	term.SetCompleter(func(text string) []string {
		var out []string
		for _, c := range []string{"help", "status", "stats", "quit", "exit"} {
			if strings.HasPrefix(c, text) {
				out = append(out, c)
			}
		}
		return out
	})
	history := historyPath()
	loadHistory(term, history)
	defer saveHistory(term, history)

	r := &repl{sender: sender, headLen: o.headLen, out: cmd.OutOrStdout()}
	fmt.Fprintln(r.out, `Type SYS TYPE FILE MSG to send a line, "help" for more, Ctrl-D to leave.`)
	for cmd.Context().Err() == nil {
		text, err := term.Prompt(r.prompt())
		switch {
		case errors.Is(err, liner.ErrPromptAborted):
			continue
		case errors.Is(err, io.EOF):
			fmt.Fprintln(r.out)
			return nil
		case err != nil:
			return fmt.Errorf("read the terminal: %w", err)
		}
		if skipLine(text) {
			continue
		}
		term.AppendHistory(text)
		if r.exec(text) {
			return nil
		}
	}
	return nil
}

// historyPath is the history file, or "" without a home directory.
func historyPath() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, historyFile)
}

// loadHistory reads the history file if there is one; a history is a
// convenience, so errors are ignored.
func loadHistory(term *liner.State, path string) {
	if path == "" {
		return
	}
	if f, err := os.Open(path); err == nil {
		term.ReadHistory(f)
		f.Close()
	}
}

func saveHistory(term *liner.State, path string) {
	if path == "" {
		return
	}
	if f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
		term.WriteHistory(f)
		f.Close()
	}
}
