// Package udpin owns the collector's UDP receive layer: the SO_REUSEPORT
// sockets that share the listen port, one reader goroutine per socket,
// batched reads (recvmmsg) into buffers allocated once, the size of the
// kernel receive buffers, and the counting of every datagram the kernel or
// the reader could not deliver. It hands raw datagrams to a handler and
// sends replies (pongs); decoding, masking and routing are not its business.
//
// # Memory
//
// Each socket owns an arena of BatchSize buffers of MaxDatagramSize bytes,
// allocated once at Listen and reused for every read, so user-space receive
// memory is bounded by Sockets × BatchSize × MaxDatagramSize (at most
// 4 × 32 × 65,507 bytes ≈ 8 MiB with the defaults) and nothing is allocated
// per datagram. The kernel's own buffering is bounded by ReadBuffer per socket.
// The price of the arena is that a Packet's Data is only valid while the
// handler runs: a handler that keeps a datagram must copy it.
//
// # Counting what is lost
//
// A datagram that reaches one of our sockets is either delivered to the
// handler (Stats.Datagrams), or longer than MaxDatagramSize and dropped
// (Stats.Truncated, from MSG_TRUNC), or dropped by the kernel because the
// socket's receive buffer was full (Stats.KernelDrops). Kernel drops are
// read from SO_RXQ_OVFL: the kernel attaches the socket's cumulative drop
// counter to each datagram it queues, so drops become visible with the next
// datagram that socket receives, not the instant they happen; Close reads
// the counter once more (SO_MEMINFO), so that the drops of a last burst
// with nothing after it are counted too.
//
// # Platform
//
// The package is Linux-only: it issues recvmmsg itself and relies on
// SO_REUSEPORT, SO_RXQ_OVFL and SO_RCVBUFFORCE. It does not go through
// golang.org/x/net/ipv4's ReadBatch because that allocates a *net.UDPAddr
// (and its IP) for every datagram; here the source address is decoded into
// a netip.AddrPort without allocating.
package udpin
