package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/clogs-io/clogs/clogs"
)

// line is one log line to send.
type line struct {
	sys, msgType, file, msg string
}

// errLineFormat: a line that is not "SYS TYPE FILE MSG".
var errLineFormat = errors.New("want SYS TYPE FILE MSG")

// parseLine splits text into SYS, TYPE and FILE, separated by spaces or
// tabs, and MSG: the rest of the line after the blanks that follow FILE,
// kept as it is.
func parseLine(text string) (line, error) {
	var fields [3]string
	rest := text
	for i := range fields {
		rest = strings.TrimLeft(rest, " \t")
		end := strings.IndexAny(rest, " \t")
		if end < 0 {
			end = len(rest)
		}
		fields[i], rest = rest[:end], rest[end:]
		if fields[i] == "" {
			return line{}, errLineFormat
		}
	}
	return line{sys: fields[0], msgType: msgTypeArg(fields[1]), file: fields[2], msg: strings.TrimLeft(rest, " \t")}, nil
}

// send sends l through sender.
func (l line) send(sender *clogs.Sender, headLen uint16) error {
	return sender.Send(l.sys, l.msgType, l.file, headLen, []byte(l.msg))
}

// skipLine reports whether a batch or interactive line is blank or a
// comment.
func skipLine(text string) bool {
	text = strings.TrimSpace(text)
	return text == "" || strings.HasPrefix(text, "#")
}

// batch sends each line of in, reports the lines it could not send on
// stderr as it goes, and fails at the end if there were any.
func batch(cmd *cobra.Command, sender *clogs.Sender, o *options, in io.Reader) error {
	scanner := bufio.NewScanner(in)
	scanner.Buffer(make([]byte, 0, 64<<10), clogs.MaxDatagram+1)
	var sent, failed, number int
	for scanner.Scan() {
		number++
		text := strings.TrimSuffix(scanner.Text(), "\r")
		if skipLine(text) {
			continue
		}
		l, err := parseLine(text)
		if err == nil {
			err = l.send(sender, o.headLen)
		}
		if err != nil {
			failed++
			fmt.Fprintf(cmd.ErrOrStderr(), "clogs-cli: line %d: %v\n", number, err)
			continue
		}
		sent++
	}
	fmt.Fprintf(cmd.OutOrStdout(), "sent %d lines, %d failed\n", sent, failed)
	if err := scanner.Err(); err != nil {
		return fmt.Errorf("read line %d: %w", number+1, err)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d lines not sent", failed, sent+failed)
	}
	return nil
}
