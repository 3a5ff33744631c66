package udpin

import (
	"errors"
	"fmt"
	"net"
	"runtime"

	"go.uber.org/zap"
)

// MaxDatagramSize is the largest clogs datagram (65,535 minus the 20-byte
// IPv4 and 8-byte UDP headers); larger datagrams are counted as truncated.
const MaxDatagramSize = 65507

// Limits Validate enforces.
const (
	// maxBatchSize is the kernel's UIO_MAXIOV, the most messages one
	// recvmmsg call takes.
	maxBatchSize = 1024
	maxSockets   = 256
	// maxReadBuffer keeps the kernel's doubling of SO_RCVBUF within an int32.
	maxReadBuffer = 1 << 30
	// maxArenaBytes bounds the user-space receive buffers of all sockets
	// together, so a typo in a flag cannot reserve gigabytes.
	maxArenaBytes = 1 << 30
)

// Config says where and how to receive.
type Config struct {
	// Addr is the UDP address to listen on, host:port. Port 0 picks a free
	// port, which every socket then shares.
	Addr string
	// Sockets is how many SO_REUSEPORT sockets share Addr, each with its
	// own reader goroutine. The kernel spreads senders over them by a hash
	// of the source address and port, so one sender always lands on one
	// socket.
	Sockets int
	// BatchSize is how many datagrams one read (recvmmsg) takes at most,
	// and the most a handler call receives.
	BatchSize int
	// MaxDatagramSize is the size of each receive buffer; a longer datagram
	// is dropped and counted in Stats.Truncated. At most MaxDatagramSize.
	MaxDatagramSize int
	// ReadBuffer is the kernel receive buffer asked for each socket, in
	// bytes; 0 keeps the system default. With CAP_NET_ADMIN it is forced
	// (SO_RCVBUFFORCE); otherwise net.core.rmem_max caps it and Listen
	// logs a warning with the size the kernel granted.
	ReadBuffer int
	// Logger; nil logs nothing.
	Logger *zap.Logger
}

// DefaultConfig listens on the command-line contract's collector address
// with one socket per CPU, up to four.
func DefaultConfig() Config {
	return Config{
		Addr:            "127.0.0.1:6000",
		Sockets:         min(runtime.GOMAXPROCS(0), 4),
		BatchSize:       32,
		MaxDatagramSize: MaxDatagramSize,
		ReadBuffer:      8 << 20,
	}
}

// Validate checks every field against its limits. It does not resolve the
// address; Listen reports an address that cannot be bound.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr %q: %w", c.Addr, err))
	}
	if c.Sockets < 1 || c.Sockets > maxSockets {
		errs = append(errs, fmt.Errorf("sockets %d: want 1 to %d", c.Sockets, maxSockets))
	}
	if c.BatchSize < 1 || c.BatchSize > maxBatchSize {
		errs = append(errs, fmt.Errorf("batch size %d: want 1 to %d", c.BatchSize, maxBatchSize))
	}
	if c.MaxDatagramSize < 1 || c.MaxDatagramSize > MaxDatagramSize {
		errs = append(errs, fmt.Errorf("max datagram size %d: want 1 to %d", c.MaxDatagramSize, MaxDatagramSize))
	}
	if c.ReadBuffer < 0 || c.ReadBuffer > maxReadBuffer {
		errs = append(errs, fmt.Errorf("read buffer %d: want 0 to %d", c.ReadBuffer, maxReadBuffer))
	}
	if len(errs) == 0 && c.arenaBytes() > maxArenaBytes {
		errs = append(errs, fmt.Errorf("sockets × batch size × max datagram size = %d bytes: more than %d", c.arenaBytes(), maxArenaBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("udpin: invalid config: %w", err)
	}
	return nil
}

// arenaBytes is the user-space receive memory of all sockets together.
func (c Config) arenaBytes() int {
	return c.Sockets * c.BatchSize * c.MaxDatagramSize
}
