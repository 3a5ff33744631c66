package collector

import (
	"bytes"
	"sync"
	"time"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/clogs-io/clogs/collector/udpin"
)

// Syslog lines (RFC 5424 or RFC 3164, one per datagram, RFC 5426) land in
// stream syslog/<app-name>, whatever the stream template says, as records
// with sys "syslog", type "rfc5424" or "rfc3164", file the app-name
// ("unknown" when it has none), and the whole datagram, masked, as the
// message: nothing the sender wrote is lost. A datagram that neither
// parser takes is dropped and counted ("bad_syslog").

const (
	syslogSys     = "syslog"
	syslogUnknown = "unknown"
)

// syslogParsers are not safe for concurrent use; each socket goroutine
// takes a pair from the pool.
type syslogParsers struct {
	rfc5424, rfc3164 syslog.Machine
}

var parserPool = sync.Pool{New: func() any {
	return &syslogParsers{rfc5424: rfc5424.NewParser(), rfc3164: rfc3164.NewParser(rfc3164.WithBestEffort())}
}}

// handleSyslog takes a batch of syslog datagrams from one socket.
func (c *Collector) handleSyslog(batch []udpin.Packet) {
	now := time.Now().UnixNano()
	parsers := parserPool.Get().(*syslogParsers)
	defer parserPool.Put(parsers)
	for _, p := range batch {
		c.metrics.syslogLine.Inc()
		format, app, ok := parseSyslog(parsers, p.Data)
		if !ok {
			c.metrics.drop(reasonBadSyslog, 1)
			continue
		}
		c.acceptSyslog(now, p, format, app)
	}
}

func (c *Collector) acceptSyslog(now int64, p udpin.Packet, format, app string) {
	var nameBuf [maxStreamName]byte
	name := appendNamePart(append(nameBuf[:0], syslogSys+"/"...), []byte(app))
	if len(name) > maxStreamName {
		name = name[:maxStreamName]
	}
	c.acceptTo(name, now, p.From, []byte(syslogSys), []byte(format), []byte(app), 0, bytes.TrimRight(p.Data, "\r\n"))
}

// parseSyslog tells the format of a syslog datagram and its app-name.
func parseSyslog(parsers *syslogParsers, data []byte) (format, app string, ok bool) {
	if isRFC5424(data) {
		if msg, err := parsers.rfc5424.Parse(data); err == nil {
			if m, isMsg := msg.(*rfc5424.SyslogMessage); isMsg && m.Valid() {
				return "rfc5424", appName(m.Appname), true
			}
		}
	}
	msg, _ := parsers.rfc3164.Parse(data) // best effort: a message as long as the priority parses
	if m, isMsg := msg.(*rfc3164.SyslogMessage); isMsg && m != nil && m.Valid() {
		return "rfc3164", appName(m.Appname), true
	}
	return "", "", false
}

// isRFC5424 reports whether data starts like RFC 5424: "<PRI>1 ".
func isRFC5424(data []byte) bool {
	end := bytes.IndexByte(data, '>')
	return end > 0 && end <= 4 && data[0] == '<' && bytes.HasPrefix(data[end+1:], []byte("1 "))
}

func appName(name *string) string {
	if name == nil || *name == "" || *name == "-" {
		return syslogUnknown
	}
	return *name
}
