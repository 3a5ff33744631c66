package conn

import (
	"fmt"
	"math"
	"time"

	"go.uber.org/zap"
)

// MaxMessageSize is the largest gRPC message, in bytes, that clogs clients
// and servers send or accept. The largest message the protocol needs is one
// block on the wire: a 32 MiB payload, its 512-byte header, and protobuf
// framing (field tags, lengths, extent ID, offsets). 48 MiB holds that with
// room to spare, while still refusing a runaway request before it is
// allocated. Requests that carry several blocks must be split by the caller
// to fit.
const MaxMessageSize = 48 << 20

// Default values of Config.
const (
	DefaultDialTimeout      = 3 * time.Second
	DefaultKeepaliveTime    = 10 * time.Second
	DefaultKeepaliveTimeout = 3 * time.Second
)

// minKeepaliveTime is the shortest client ping interval gRPC honours: it
// silently raises anything smaller to this. Validate refuses smaller values
// so that the configuration says what really happens. It is also above the
// servers' keepaliveMinTime, which is what keeps servers from closing
// connections for pinging too often.
// Flow-control windows of every clogs connection, client and server side.
// Fixed windows turn off gRPC's bandwidth-delay estimation, which starts
// each connection at 64 KiB and grows it with pings: on loopback a block
// batch of a megabyte waited on window updates. Measured with make
// bench-node (3 runs each): 4 KiB x64 +9% appends/s, 64 KiB x32 +4-8%
// MiB/s. A stream can buffer at most its window, and a unary message is
// read whole anyway, so the memory bound stays MaxMessageSize per call.
const (
	StreamWindow     = 16 << 20
	ConnectionWindow = 64 << 20
)

const minKeepaliveTime = 10 * time.Second

// Config says how the pool connects.
type Config struct {
	// DialTimeout bounds the wait for a connection to become ready in
	// Pool.Get: the first use of an address where nothing answers fails
	// after this long instead of hanging.
	DialTimeout time.Duration
	// KeepaliveTime is how often a client pings an idle connection, also
	// when no RPC is active, to find dead peers and keep NAT state alive.
	KeepaliveTime time.Duration
	// KeepaliveTimeout is how long a client waits for a ping's answer
	// before it closes the connection.
	KeepaliveTimeout time.Duration
	// MaxMessageSize bounds messages sent and received by clients, in
	// bytes. Servers use the constant MaxMessageSize, so a larger value
	// here only lets a request reach a server that will refuse it.
	MaxMessageSize int
	// Compression is the compressor clients use for requests: "" (none)
	// or Snappy. Servers answer with the compressor of the request.
	Compression string
	// Logger receives connection events; nil logs nothing.
	Logger *zap.Logger
}

// DefaultConfig returns the configuration clogs processes use unless told
// otherwise: no compression, which suits the loopback and LAN links of a
// cluster; log blocks arrive already snappy-compressed by the collector.
func DefaultConfig() Config {
	return Config{
		DialTimeout:      DefaultDialTimeout,
		KeepaliveTime:    DefaultKeepaliveTime,
		KeepaliveTimeout: DefaultKeepaliveTimeout,
		MaxMessageSize:   MaxMessageSize,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.DialTimeout <= 0 {
		return fmt.Errorf("conn: dial timeout %v is not positive", c.DialTimeout)
	}
	if c.KeepaliveTime < minKeepaliveTime {
		return fmt.Errorf("conn: keepalive time %v is below the minimum %v", c.KeepaliveTime, minKeepaliveTime)
	}
	if c.KeepaliveTimeout <= 0 {
		return fmt.Errorf("conn: keepalive timeout %v is not positive", c.KeepaliveTimeout)
	}
	if c.MaxMessageSize <= 0 || c.MaxMessageSize > math.MaxInt32 {
		return fmt.Errorf("conn: max message size %d is not in 1 … %d", c.MaxMessageSize, math.MaxInt32)
	}
	switch c.Compression {
	case "", Snappy:
	default:
		return fmt.Errorf("conn: compression %q is not one of \"\", %q", c.Compression, Snappy)
	}
	return nil
}
