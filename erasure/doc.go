// Package erasure owns the coded form of a sealed extent: its
// Reed–Solomon shards (github.com/klauspost/reedsolomon), their file
// format, encoding, reads with reconstruction, and the rebuild of a lost
// shard. Like extent/ it knows nothing of networking or metadata; files go
// through extent/vfs, or plain io interfaces.
//
// # Layout
//
// A sealed extent's bytes, the whole file up to its sealed length (the
// extent header included, so block addresses stay the same), are cut into
// stripes of d data chunks of ChunkSize bytes each; the coder adds p
// parity chunks to every stripe. Shard i holds chunk i of every stripe:
// shards 0 to d-1 hold the extent's bytes themselves, shards d to d+p-1
// parity. The last stripe is padded with zeros; the header records the
// real length. Any d good chunks of a stripe give back the other p.
//
//	extent bytes:  | c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7 | c8 |0000|...
//	               '----- stripe 0 ----''----- stripe 1 ----''-stripe 2-...
//	4+2 shards:    shard 0: c0 c4 c8      shard 4: P0 P4 P8
//	               shard 1: c1 c5 0       shard 5: Q0 Q4 Q8
//	               shard 2: c2 c6 0
//	               shard 3: c3 c7 0
//
// Byte x of the extent is in stripe x / (d*ChunkSize), chunk
// (x mod d*ChunkSize) / ChunkSize of it.
//
// The coding matrix is part of the format: the one reedsolomon.New builds
// by default (a Vandermonde matrix made systematic, over GF(2^8)), never
// Cauchy, PAR1, Jerasure, fast one-parity or Leopard. The golden test
// pins it.
//
// # Shard file format, version 1
//
// All integers are little-endian. The sizes are format constants
// (ShardHeaderSize, ChunkCRCSize and the limits MinChunkSize,
// MaxChunkSize, MaxDataShards, MaxParityShards, MaxShards,
// MaxSealedLength) and must not change without a new version. A shard
// file opens with a 64-byte header:
//
//	 0        8        16   20  22  24  26  28   32       40       48          60  64
//	+--------+--------+----+---+---+---+---+----+--------+--------+-----------+----+
//	| magic  | extent |ver |idx| d | p | 0 |chnk| sealed |stripes |  zero (12)|crc |
//	|CLOGSSHD|   ID   | =1 |   |   |   |   |size| length |        |           |    |
//	+--------+--------+----+---+---+---+---+----+--------+--------+-----------+----+
//
//	offset size field
//	0      8    magic "CLOGSSHD"
//	8      8    extent ID
//	16     4    format version, 1
//	20     2    shard index, 0 to d+p-1 (below d: data; from d: parity)
//	22     2    d, data shards, 1 to 32
//	24     2    p, parity shards, 1 to 16; d+p at most 32
//	26     2    zero
//	28     4    chunk size: a power of two, 512 B to 4 MiB
//	32     8    sealed length of the coded extent, 1 to 1 TiB
//	40     8    stripe count, ceil(sealed length / (d × chunk size))
//	48     12   zero
//	60     4    CRC32C (Castagnoli) of bytes 0-59
//
// Then one chunk record per stripe, in stripe order, back to back:
//
//	+----------------------------------------+------+
//	|        chunk data (chunk size)         | crc  |
//	+----------------------------------------+------+
//
// The chunk of stripe s starts at 64 + s × (chunk size + 4). Its checksum
// is the CRC32C of the chunk data followed by the stripe number (8 bytes)
// and the shard index (2 bytes), so that a chunk in the wrong place fails
// its check like a damaged one. A shard file is therefore exactly
// 64 + stripes × (chunk size + 4) bytes; a shorter file is truncated, a
// longer one refused.
//
// Zero means invalid: a zeroed header has no magic, and a zeroed chunk
// record fails its checksum. Every header field is checked against its
// limit, the stripe count against the other fields and the file size
// against the header before anything is allocated or read. Shards of one
// coding agree on everything but the index; readers refuse a mix.
//
// Shard files are named by the extent-node (next to its extents); this
// package does not name them.
//
// # Choosing the chunk size
//
// The chunk size is per coding (DefaultChunkSize, 64 KiB, unless told).
// Larger chunks lower the checksum overhead (4 bytes a chunk) and the
// per-chunk cost of the coder; smaller ones lower the read amplification
// of a small degraded read (d chunks read to rebuild one) and the memory
// a stripe takes ((d+p) × chunk size). A power of two of at least 512
// puts every chunk boundary on a 512-byte boundary of the extent, so a
// block header never straddles two chunks, and chunks of 4096 bytes or
// more hold whole pages of block payloads.
//
// # Reading and rebuilding
//
// A read of a byte range reads the data chunks that cover it and checks
// their checksums. A chunk that is missing, unreadable or corrupt is
// reconstructed from any d good chunks of its stripe (data first, then
// parity); the Report lists what was wrong, so the caller can have the
// shard rebuilt. With fewer than d good chunks the read fails with an
// *UnrecoverableError: bad bytes are never returned as data. Rebuild
// regenerates a whole shard, byte-identical to the original, from the
// others.
package erasure
