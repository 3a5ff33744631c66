package conn

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
)

// keepaliveMinTime is the shortest ping interval a server accepts from a
// client before it closes the connection with GOAWAY "too_many_pings".
// It must stay below minKeepaliveTime, the shortest interval a client sends.
const keepaliveMinTime = 5 * time.Second

// DialOptions returns the options every clogs client connection uses. Pool
// uses them; they are exported for the few callers that must build a
// *grpc.ClientConn themselves (a custom resolver, a test). c must be valid
// (see Validate).
func (c Config) DialOptions() []grpc.DialOption {
	callOptions := []grpc.CallOption{
		grpc.MaxCallRecvMsgSize(c.MaxMessageSize),
		grpc.MaxCallSendMsgSize(c.MaxMessageSize),
	}
	if c.Compression != "" {
		callOptions = append(callOptions, grpc.UseCompressor(c.Compression))
	}
	return []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                c.KeepaliveTime,
			Timeout:             c.KeepaliveTimeout,
			PermitWithoutStream: true,
		}),
		// gRPC gives every connection attempt at least 20 s by default; a
		// peer that accepts TCP but never speaks HTTP/2 would hold the
		// connection in CONNECTING that long. Bound each attempt by the
		// dial timeout, as Get bounds its wait.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.DefaultConfig,
			MinConnectTimeout: c.DialTimeout,
		}),
		grpc.WithDefaultCallOptions(callOptions...),
		grpc.WithInitialWindowSize(StreamWindow),
		grpc.WithInitialConnWindowSize(ConnectionWindow),
	}
}

// ServerOptions returns the server-side options matching the clients' dial
// options: the same message size limits and flow-control windows, and a
// keepalive policy that allows the clients' pings, also between RPCs.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             keepaliveMinTime,
			PermitWithoutStream: true,
		}),
		grpc.InitialWindowSize(StreamWindow),
		grpc.InitialConnWindowSize(ConnectionWindow),
	}
}
