// Package logblock owns the log block format, version 1: how the
// collector packs received log lines into one extent block, and how
// readers (stream-client cat --logs, tailing) get them back. A log block is
// an ordinary block: its payload holds the records, optionally
// snappy-compressed as a whole, and its user data holds a small header
// that says so. Blocks with other user data are raw blocks; IsLogBlock
// tells them apart.
//
// # Header (the block's user data), version 1
//
// All integers are big-endian. The sizes and limits are format constants
// (HeaderSize, MaxNameLen, MaxMessage, MaxRecordsLen) and must not change
// without a new version. The header is exactly HeaderSize (60) bytes,
// well inside the 496 bytes of user data an extent block carries.
//
//	 0          8     9       10     12      16        20        28        36          52          60
//	+----------+-----+-------+------+-------+---------+---------+---------+-----------+-----------+
//	|  magic   | ver | codec | zero | count | rec len |  first  |   last  | writer ID | batch seq |
//	| CLOGSLOG |  =1 |       |      |       |         | unix ns | unix ns |  16 bytes |           |
//	+----------+-----+-------+------+-------+---------+---------+---------+-----------+-----------+
//
//	offset size field
//	0      8    magic "CLOGSLOG"
//	8      1    version, 1
//	9      1    codec of the payload: 1 none, 2 snappy (0 is invalid)
//	10     2    zero
//	12     4    record count, 1 to records length / 14 (the smallest record)
//	16     4    records length: bytes of the records before compression,
//	            14 to MaxRecordsLen (32 MiB, the largest extent payload)
//	20     8    first receive time: the earliest of the records', Unix ns
//	28     8    last receive time: the latest of the records', Unix ns
//	36     16   writer ID, e.g. the collector's UUID
//	52     8    batch sequence, numbered by the writer
//
// Writer ID and batch sequence let readers of a stream that several
// writers share drop blocks appended twice (DESIGN.md, "Exactly-once for a
// single writer"). First and last receive time let a reader skip blocks
// outside a time range without decoding them; they are the minimum and
// maximum, since records from several sockets need not arrive in order.
//
// # Payload
//
// The payload is the records, back to back, with nothing before, between
// or after them. With codec 2 it is those bytes compressed as one snappy
// block (the block format, not the framed stream format); the builder uses
// snappy only when that saves at least an eighth of the bytes.
//
// # Record
//
// Each record starts with its length, so a reader can skip one without
// decoding it. Lengths are unsigned varints (encoding/binary's Uvarint, at
// most 10 bytes, and always in their shortest form); the receive time is a
// fixed 8-byte big-endian signed integer.
//
//	+-----------+------------+-----+--------+-----+--------+-----+---------+-----+---------+-----+---------+
//	| body len  | recv time  | sl  | source | yl  | sys_id | tl  | msg_type| fl  |file_name| ml  | message |
//	|  uvarint  | 8, unix ns |uvar | sl B   |uvar | yl B   |uvar | tl B    |uvar | fl B    |uvar | ml B    |
//	+-----------+------------+-----+--------+-----+--------+-----+---------+-----+---------+-----+---------+
//	            |<------------------------------ body (body len bytes) ------------------------------->|
//
//	field      size        contents
//	body len   uvarint     bytes of the rest of the record, 13 to 1,049,615
//	recv time  8           when the collector received the line, Unix ns
//	source     uvarint+sl  the sender's address, "127.0.0.1:5555"; 0-255 bytes
//	sys_id     uvarint+yl  subsystem ID; 0-255 bytes
//	msg_type   uvarint+tl  message type; 0-255 bytes
//	file_name  uvarint+fl  file name; 0-255 bytes
//	message    uvarint+ml  the masked message, any bytes; 0-MaxMessage (1 MiB)
//
// The fields fill the body exactly. Fields are bytes, not text: a message
// need not be UTF-8 (GBK logs, binary ISO 8583). The name limits are
// looser than the clogs datagram's, so that syslog and later inputs fit.
//
// # Decoding
//
// Every length is checked against its limit and against the bytes that
// remain before anything is allocated; the decompressed size is known from
// the header, checked against the snappy block's own length and against
// what snappy can expand the payload to, and only then allocated. A block
// whose bytes break any rule, whose record count differs from the header,
// or whose receive times do not match the header's first and last is
// reported as a *CorruptError (errors.Is(err, ErrCorrupt)); nothing in a
// block can make the decoder panic. Iterator decodes record by record
// without allocating; Decode returns them all.
package logblock
