// Package clogs owns the clogs datagram, version 1: the UDP message an
// application sends to clogs-collector, its encoding, its decoding, and the
// reasons for which the collector drops one; and the sender library that
// applications link to send log lines to a set of collectors.
//
// # Datagram format, version 1
//
// All integers are big-endian. The limits are format constants (Version,
// MaxSysID, MaxMsgType, MaxFileName, MaxDatagram) and must not change
// without a new version. One datagram is one UDP payload; there is no
// framing beyond it and no checksum (UDP has its own).
//
//	 0       2     3      4     8    9
//	+-------+-----+------+-----+----+--------+----+----------+----+-----------+
//	| C1 06 | ver | kind | seq | sl | sys_id | tl | msg_type | fl | file_name | ...
//	|       |  =1 |      |     |    |  sl B  |    |   tl B   |    |    fl B   |
//	+-------+-----+------+-----+----+--------+----+----------+----+-----------+
//
//	... +----------+-------+-------------------+
//	    | head_len | msg n | message (n bytes) |
//	    |    2     |   4   |                   |
//	    +----------+-------+-------------------+
//
//	offset  size   field
//	0       2      magic 0xC1 0x06
//	2       1      version, 1
//	3       1      kind: 1 log, 2 ping, 3 pong (0 and 4-255 are invalid)
//	4       4      sequence number (log) or ping ID (ping, pong)
//	8       1      sl, sys_id length, 0-16
//	9       sl     sys_id
//	9+sl    1      tl, msg_type length, 0-16
//	...     tl     msg_type
//	...     1      fl, file_name length, 0-128
//	...     fl     file_name
//	...     2      head_len: bytes of application header at the start of
//	               the message, at most the message length
//	...     4      n, message length
//	...     n      message; the datagram ends exactly here
//
// A datagram is at most MaxDatagram (65,507) bytes, the most one UDP
// datagram carries over IPv4, and at least MinDatagram (17) bytes, the
// size of a ping. The longest message, MaxMessage, is what remains of
// MaxDatagram in a log datagram with one-byte sys_id and file_name and an
// empty msg_type.
//
// Each kind adds rules:
//
//	kind  sys_id  msg_type  file_name  head_len  message  seq
//	log   1-16    0-16      1-128      0-n       0-max    sender's sequence
//	ping  empty   empty     empty      0         empty    ping ID
//	pong  empty   empty     empty      0         empty    ping ID + 1 (wraps)
//
// DESIGN.md lists msg_type as 1-16 bytes, but only asks that a log have a
// non-empty sys_id and file_name; an empty msg_type is accepted (it selects
// the default masking rules) so that senders without message types need not
// invent one.
//
// # Decoding and drops
//
// Decode checks every length against its limit and against the bytes that
// remain, slices the fields out of the input without copying or
// allocating, and on failure returns a *MalformedError whose Reason says
// why the datagram is dropped. The collector counts drops by Reason;
// Reasons lists them all and Reason.String gives a stable label. Decode
// checks, in order: size (too_large, short), magic, version, kind, then
// each field in turn (field_length, truncated), trailing_bytes, and last
// the per-kind rules (empty_field, control_not_empty) and head_len.
//
// Every valid datagram has exactly one encoding, so a datagram that
// decodes re-encodes to the same bytes.
//
// # Sender
//
// A Sender (NewSender, configured by SenderConfig or a YAML file read by
// LoadSenderConfig) sends log lines to several collectors. It hashes a
// line's file name onto a ketama ring of the live collectors, with
// weight-scaled points, so that all lines of a file go to one collector,
// in order, and only the files of a collector that leaves or returns
// move. Each collector has a socket of its own, and a goroutine that
// pings it every HealthInterval: FailureThreshold checks in a row without
// the pong (ping ID plus one) isolate it, and one pong brings it back;
// either rebuilds the ring, which Send reads through an atomic pointer, so
// a send never waits for a health check or a lock. Collectors start live,
// so that a process can send its first line at once. Send encodes into a
// pooled buffer and allocates nothing; it returns ErrNoCollector when
// every collector is isolated, and Stats counts lines sent and failed,
// isolations and recoveries.
package clogs
