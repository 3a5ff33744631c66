// Package conn owns how clogs processes talk gRPC to each other: the client
// connection pool (one shared *grpc.ClientConn per address, with a bounded
// first connection attempt), the dial options every client uses (insecure
// transport, keepalive, message size limits, optional compression), the
// matching server options, and the "snappy" gRPC compressor, which it
// registers with gRPC when the package is imported.
//
// Clients and servers must agree on two things, and this package is where
// both sides take them from:
//
//   - Message size: MaxMessageSize bounds every request and response in both
//     directions (Config.DialOptions on the client, ServerOptions on the
//     server).
//   - Keepalive: clients ping every Config.KeepaliveTime, also without active
//     RPCs; servers built with ServerOptions allow pings that often. A server
//     with gRPC's default policy would close such connections with
//     GOAWAY "too_many_pings".
//
// A server decompresses snappy only if this package is linked into it;
// using ServerOptions guarantees that.
package conn
