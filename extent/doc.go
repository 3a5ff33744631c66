// Package extent owns one extent file: its on-disk format, append with
// group commit, reads, seal, and recovery when it is opened. It knows
// nothing of networking or metadata; the extent-node wraps it.
//
// # File format, version 1
//
// All integers are little-endian. The sizes are format constants
// (ExtentHeaderSize, BlockHeaderSize, MaxUserData, PayloadAlign,
// MaxPayload) and must not change without a new version. An extent lives
// in a file named FileName(id): the ID in 16 lower-case hex digits and
// ".extent", for example 000000000000002a.extent.
//
// The file opens with a 512-byte extent header:
//
//	 0        8        16   20       28                           508  512
//	+--------+--------+----+--------+-----------------------------+----+
//	| magic  | extent |ver | created|        zero (480)           |crc |
//	|CLOGSEXT|   ID   | =1 | unix ns|                             |    |
//	+--------+--------+----+--------+-----------------------------+----+
//
//	offset size field
//	0      8    magic "CLOGSEXT"
//	8      8    extent ID
//	16     4    format version, 1
//	20     8    creation time, Unix nanoseconds
//	28     480  zero
//	508    4    CRC32C (Castagnoli) of bytes 0-507
//
// Blocks follow from offset 512, back to back. Each is a 512-byte header,
// then the payload, then zeros up to the next multiple of 4096:
//
//	 0    4      8   10      16                                       512
//	+----+------+----+-------+----------------------------------------+
//	|crc |paylen|udl | zero  |   user data (udl bytes), then zeros    |
//	+----+------+----+-------+----------------------------------------+
//	| payload (paylen bytes) ... | zero padding to a multiple of 4096 |
//	+----------------------------+------------------------------------+
//
//	offset size field
//	0      4    CRC32C of header bytes 4-511 followed by the unpadded payload
//	4      4    payload length, 1 to 32 MiB; 0 means "no block here"
//	8      2    user-data length, 0 to 496
//	10     6    zero
//	16     496  user data (opaque to the engine), zero after its length
//
// A block occupies BlockSize(paylen) = 512 + roundup(paylen, 4096) bytes,
// so every block starts on a 512-byte boundary and direct I/O stays
// possible. The checksum covers everything in the header after itself,
// reserved bytes included; readers also check that reserved bytes and
// padding are zero, so every byte of a valid block is accounted for and
// replicas that agree on the checksums are byte-identical.
//
// A zero payload length marks unwritten (or preallocated, or zeroed) space.
// Lengths read from disk are checked against MaxPayload, MaxUserData and
// the bytes that remain before anything is allocated.
//
// # Sealing
//
// The extended attribute user.clogs.sealed holds the sealed length in
// decimal ASCII. Seal(L) truncates the file to L, fsyncs, sets the
// attribute and fsyncs again. On open, an attribute smaller than the file
// size means a crash between the steps and the file is cut to L; a file
// shorter than its attribute is corruption. A sealed extent opens without
// scanning its blocks. The filesystem must support user xattrs; nodes
// check with CheckXattrSupport at start.
//
// # Durability and recovery
//
// Append returns only after its blocks are written and fdatasync'ed.
// Concurrent appends on one extent form one group commit: the first caller
// becomes the leader, takes every request queued so far, writes them with
// one vectored write (pwritev) and one fdatasync, completes them all and
// hands leadership to the next waiter. Reads run concurrently and never see
// bytes past the commit length (the durable end).
//
// Opening an unsealed extent scans every block from offset 512. At the
// first invalid block it looks for any valid block further on: if there is
// none, the invalid bytes are a torn tail left by a crash during an
// unsynced write; they are truncated and reported (Recovered, a
// *TornTailError). If a valid block follows, the damage is inside data
// that was once durable: Open fails with a *CorruptionError and changes
// nothing, so the replica can be repaired from its peers instead of losing
// acknowledged blocks. (Writeback can persist a later page of an unsynced
// batch before an earlier one; that rare torn batch is then also reported
// as corruption, which is the safe side.) Invalid bytes that are all
// zeros are unwritten space, such as the zeros Config.ZeroAhead writes
// past the end so that an append's fdatasync has no metadata to commit:
// they are truncated without a report.
//
// After a write or sync error the extent takes no more appends (ErrFailed):
// whether the kernel kept the dirty pages is unknowable, so the batch is cut
// off best effort and the writer moves to a new extent after a seal.
package extent
