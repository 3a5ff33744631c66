package conn

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// testServer is a real gRPC server with the health service, built with
// ServerOptions like the clogs servers.
type testServer struct {
	addr   string
	grpc   *grpc.Server
	health *health.Server
}

// startServer serves on lis, or on a fresh 127.0.0.1 port if lis is nil.
func startServer(t *testing.T, lis net.Listener, opts ...grpc.ServerOption) *testServer {
	t.Helper()
	if lis == nil {
		var err error
		if lis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	s := &testServer{
		addr:   lis.Addr().String(),
		grpc:   grpc.NewServer(append(ServerOptions(), opts...)...),
		health: health.NewServer(),
	}
	healthpb.RegisterHealthServer(s.grpc, s.health)
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.grpc.Serve(lis)
	}()
	t.Cleanup(func() {
		s.grpc.Stop()
		<-served
	})
	return s
}

func newTestPool(t *testing.T, edit func(*Config)) *Pool {
	t.Helper()
	cfg := DefaultConfig()
	if edit != nil {
		edit(&cfg)
	}
	p, err := NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// freeAddr returns a 127.0.0.1 address where nothing listens.
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

func check(ctx context.Context, cc *grpc.ClientConn) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Config)
		valid bool
	}{
		{"default", func(*Config) {}, true},
		{"snappy", func(c *Config) { c.Compression = Snappy }, true},
		{"zero dial timeout", func(c *Config) { c.DialTimeout = 0 }, false},
		{"keepalive below gRPC minimum", func(c *Config) { c.KeepaliveTime = 5 * time.Second }, false},
		{"zero keepalive timeout", func(c *Config) { c.KeepaliveTimeout = 0 }, false},
		{"zero message size", func(c *Config) { c.MaxMessageSize = 0 }, false},
		{"unknown compression", func(c *Config) { c.Compression = "gzip" }, false},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		c.edit(&cfg)
		err := cfg.Validate()
		if (err == nil) != c.valid {
			t.Errorf("%s: Validate() = %v, want valid=%v", c.name, err, c.valid)
		}
		if _, err := NewPool(cfg); (err == nil) != c.valid {
			t.Errorf("%s: NewPool() error = %v, want valid=%v", c.name, err, c.valid)
		}
	}
}

func TestKeepaliveAgreement(t *testing.T) {
	if DefaultKeepaliveTime < minKeepaliveTime || minKeepaliveTime < keepaliveMinTime {
		t.Fatalf("client pings every %v (at least %v) but servers allow every %v",
			DefaultKeepaliveTime, minKeepaliveTime, keepaliveMinTime)
	}
}

func TestGetSharesOneConnPerAddress(t *testing.T) {
	s1, s2 := startServer(t, nil), startServer(t, nil)
	p := newTestPool(t, nil)
	ctx := context.Background()

	const callers = 32
	conns := make([]*grpc.ClientConn, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			cc, err := p.Get(ctx, s1.addr)
			if err != nil {
				t.Error(err)
			}
			conns[i] = cc
		})
	}
	wg.Wait()
	for i, cc := range conns {
		if cc == nil || cc != conns[0] {
			t.Fatalf("Get %d returned %p, Get 0 returned %p", i, cc, conns[0])
		}
	}
	if err := check(ctx, conns[0]); err != nil {
		t.Fatal(err)
	}
	other, err := p.Get(ctx, s2.addr)
	if err != nil {
		t.Fatal(err)
	}
	if other == conns[0] {
		t.Fatal("two addresses share one connection")
	}
	if err := check(ctx, other); err != nil {
		t.Fatal(err)
	}
}

// assertNotReady checks that err is the bounded-dial error for addr and
// that it came in time.
func assertNotReady(t *testing.T, err error, addr string, took, timeout time.Duration) {
	t.Helper()
	if !errors.Is(err, ErrNotReady) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v does not wrap ErrNotReady and DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "after") {
		t.Errorf("error %q does not name the address and the time waited", err)
	}
	const slack = time.Second
	if took < timeout-50*time.Millisecond || took > timeout+slack {
		t.Errorf("Get failed after %v, want about the dial timeout %v", took, timeout)
	}
}

func TestGetNothingListening(t *testing.T) {
	const timeout = 400 * time.Millisecond
	p := newTestPool(t, func(c *Config) { c.DialTimeout = timeout })
	addr := freeAddr(t)
	for range 2 { // the second Get finds the conn in TRANSIENT_FAILURE
		start := time.Now()
		cc, err := p.Get(context.Background(), addr)
		if cc != nil {
			t.Fatal("Get returned a connection")
		}
		assertNotReady(t, err, addr, time.Since(start), timeout)
		t.Log(err)
	}
}

// TestGetSilentPeer dials a peer that accepts TCP but never speaks HTTP/2:
// gRPC alone would keep trying for 20 s.
func TestGetSilentPeer(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var accepted []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = lis.Close()
		<-done
		for _, c := range accepted {
			_ = c.Close()
		}
	})

	const timeout = 400 * time.Millisecond
	p := newTestPool(t, func(c *Config) { c.DialTimeout = timeout })
	start := time.Now()
	_, err = p.Get(context.Background(), lis.Addr().String())
	assertNotReady(t, err, lis.Addr().String(), time.Since(start), timeout)
}

func TestGetHonoursCallerContext(t *testing.T) {
	p := newTestPool(t, nil)
	addr := freeAddr(t)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Get(ctx, addr); !errors.Is(err, context.Canceled) || !errors.Is(err, ErrNotReady) {
		t.Fatalf("Get with a canceled context: %v", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := p.Get(ctx, addr); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get with a short deadline: %v", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Get ignored the caller's 100ms deadline, took %v", took)
	}
}

func TestGetEmptyAddress(t *testing.T) {
	p := newTestPool(t, nil)
	if _, err := p.Get(context.Background(), ""); err == nil {
		t.Fatal("Get(\"\") succeeded")
	}
}

// TestRedialSamePort restarts the server on the same port: the pooled
// connection must carry calls again, with no Remove by the caller.
func TestRedialSamePort(t *testing.T) {
	const timeout = 300 * time.Millisecond
	p := newTestPool(t, func(c *Config) { c.DialTimeout = timeout })
	ctx := context.Background()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	first := startServer(t, lis)
	cc, err := p.Get(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := check(ctx, cc); err != nil {
		t.Fatal(err)
	}

	first.grpc.Stop()
	// The client notices the lost connection a moment after Stop; until
	// then it still reports READY.
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	for cc.GetState() == connectivity.Ready && cc.WaitForStateChange(waitCtx, connectivity.Ready) {
	}
	cancel()
	// While the port is dead, Get fails in bounded time and check fails.
	for range 3 {
		start := time.Now()
		_, err := p.Get(ctx, addr)
		assertNotReady(t, err, addr, time.Since(start), timeout)
	}
	failCtx, cancel := context.WithTimeout(ctx, timeout)
	if err := check(failCtx, cc); status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded {
		t.Errorf("check against a stopped server: %v", err)
	}
	cancel()

	lis, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	startServer(t, lis)
	// gRPC's backoff has grown while the port was dead; Get must not wait
	// for it. Let the kick rate limit pass, then one Get must succeed.
	time.Sleep(backoffKickInterval)
	again, err := p.Get(ctx, addr)
	if err != nil {
		t.Fatalf("Get after the server came back: %v", err)
	}
	if again != cc {
		t.Fatal("Get after redial returned a different connection")
	}
	if err := check(ctx, cc); err != nil {
		t.Fatal(err)
	}
}

// TestGetKicksBackoff makes gRPC's reconnect backoff a minute long: a Get
// after the peer comes back must still connect within the dial timeout.
func TestGetKicksBackoff(t *testing.T) {
	const timeout = 300 * time.Millisecond
	p := newTestPool(t, func(c *Config) { c.DialTimeout = timeout })
	p.dialOptions = append(p.dialOptions, grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: time.Minute, Multiplier: 1, MaxDelay: time.Minute},
		MinConnectTimeout: timeout,
	}))
	addr := freeAddr(t)
	start := time.Now()
	_, err := p.Get(context.Background(), addr)
	assertNotReady(t, err, addr, time.Since(start), timeout)

	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	startServer(t, lis)
	time.Sleep(backoffKickInterval)
	cc, err := p.Get(context.Background(), addr)
	if err != nil {
		t.Fatalf("Get with the peer back: %v", err)
	}
	if err := check(context.Background(), cc); err != nil {
		t.Fatal(err)
	}
}

func TestRemove(t *testing.T) {
	s := startServer(t, nil)
	p := newTestPool(t, nil)
	ctx := context.Background()
	old, err := p.Get(ctx, s.addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Remove(s.addr); err != nil {
		t.Fatal(err)
	}
	if st := old.GetState(); st != connectivity.Shutdown {
		t.Fatalf("removed connection is %v, want SHUTDOWN", st)
	}
	if err := p.Remove(s.addr); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	fresh, err := p.Get(ctx, s.addr)
	if err != nil {
		t.Fatal(err)
	}
	if fresh == old {
		t.Fatal("Get after Remove returned the removed connection")
	}
	if err := check(ctx, fresh); err != nil {
		t.Fatal(err)
	}
}

// TestRemoveWhileGetWaits removes a connection that a Get is waiting on:
// the Get goes on with a fresh connection instead of failing.
func TestRemoveWhileGetWaits(t *testing.T) {
	p := newTestPool(t, func(c *Config) { c.DialTimeout = 2 * time.Second })
	addr := freeAddr(t)
	result := make(chan error, 1)
	go func() {
		_, err := p.Get(context.Background(), addr)
		result <- err
	}()
	time.Sleep(200 * time.Millisecond)
	if err := p.Remove(addr); err != nil {
		t.Fatal(err)
	}
	if err := <-result; !errors.Is(err, ErrNotReady) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get across Remove: %v", err)
	}
}

func TestCloseClosesAll(t *testing.T) {
	s1, s2 := startServer(t, nil), startServer(t, nil)
	p := newTestPool(t, nil)
	ctx := context.Background()
	var conns []*grpc.ClientConn
	for _, addr := range []string{s1.addr, s2.addr} {
		cc, err := p.Get(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, cc)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for i, cc := range conns {
		if st := cc.GetState(); st != connectivity.Shutdown {
			t.Errorf("connection %d is %v after Close, want SHUTDOWN", i, st)
		}
	}
	if _, err := p.Get(ctx, s1.addr); !errors.Is(err, ErrPoolClosed) {
		t.Fatalf("Get after Close: %v, want ErrPoolClosed", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := p.Remove(s1.addr); err != nil {
		t.Fatalf("Remove after Close: %v", err)
	}
}

// TestCloseWhileGetWaits closes the pool under a waiting Get.
func TestCloseWhileGetWaits(t *testing.T) {
	p := newTestPool(t, func(c *Config) { c.DialTimeout = 5 * time.Second })
	addr := freeAddr(t)
	result := make(chan error, 1)
	go func() {
		_, err := p.Get(context.Background(), addr)
		result <- err
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-result; !errors.Is(err, ErrPoolClosed) {
		t.Fatalf("Get across Close: %v, want ErrPoolClosed", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Get took %v to notice Close", took)
	}
}

// compressionStats records, on the server, how requests arrived.
type compressionStats struct {
	mu        sync.Mutex
	encodings []string // grpc-encoding of each request
	payloads  []stats.InPayload
}

func (s *compressionStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return ctx
}
func (s *compressionStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (s *compressionStats) HandleConn(context.Context, stats.ConnStats) {}

func (s *compressionStats) HandleRPC(_ context.Context, st stats.RPCStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st := st.(type) {
	case *stats.InHeader:
		s.encodings = append(s.encodings, st.Compression)
	case *stats.InPayload:
		s.payloads = append(s.payloads, *st)
	}
}

func TestSnappyOverGRPC(t *testing.T) {
	st := &compressionStats{}
	s := startServer(t, nil, grpc.StatsHandler(st))
	// A long, repetitive service name makes a request worth compressing.
	service := string(logLike(64 << 10))
	s.health.SetServingStatus(service, healthpb.HealthCheckResponse_SERVING)

	p := newTestPool(t, func(c *Config) { c.Compression = Snappy })
	ctx := context.Background()
	cc, err := p.Get(ctx, s.addr)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("status %v", resp.GetStatus())
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.encodings) != 1 || st.encodings[0] != Snappy {
		t.Fatalf("request encodings %q, want [%q]", st.encodings, Snappy)
	}
	if len(st.payloads) != 1 {
		t.Fatalf("%d request payloads, want 1", len(st.payloads))
	}
	in := st.payloads[0]
	if in.Length < len(service) || in.CompressedLength*2 > in.Length {
		t.Fatalf("request of %d bytes arrived as %d: not compressed", in.Length, in.CompressedLength)
	}
	t.Logf("request: %d bytes, %d on the wire", in.Length, in.CompressedLength)
}

// TestMaxMessageSize sends the largest request a block needs, and one over
// the limit, with and without compression.
func TestMaxMessageSize(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 80 MiB")
	}
	s := startServer(t, nil)
	const blockOnWire = 32<<20 + 512 + 4096 // payload, header, framing slack
	big := strings.Repeat("x", blockOnWire)
	tooBig := strings.Repeat("x", MaxMessageSize+1)
	for _, compression := range []string{"", Snappy} {
		p := newTestPool(t, func(c *Config) { c.Compression = compression })
		ctx := context.Background()
		cc, err := p.Get(ctx, s.addr)
		if err != nil {
			t.Fatal(err)
		}
		client := healthpb.NewHealthClient(cc)
		// The health server does not know the service: NotFound means the
		// request got through.
		_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: big})
		if status.Code(err) != codes.NotFound {
			t.Errorf("compression %q: %d-byte request: %v, want NotFound", compression, len(big), err)
		}
		_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: tooBig})
		if status.Code(err) != codes.ResourceExhausted {
			t.Errorf("compression %q: %d-byte request: %v, want ResourceExhausted", compression, len(tooBig), err)
		}
	}
}
