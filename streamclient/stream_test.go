package streamclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clogs-io/clogs/extent"
)

func smallExtents() Config {
	cfg := DefaultConfig()
	cfg.MaxExtentSize = extent.ExtentHeaderSize + extent.BlockSize(extent.MaxPayload) // ~32 MiB: a few rollovers in a test
	return cfg
}

func payload(i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("block %06d ", i)), 200+i%7*700)
}

// readAll reads the whole stream, checking addresses increase.
func readAll(t *testing.T, cl *Client, name string) []Block {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := cl.OpenReader(ctx, name, Address{}, false)
	if err != nil {
		t.Fatal(err)
	}
	var out []Block
	for {
		blocks, err := r.Next(ctx)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, blocks...)
	}
}

func TestAppendRolloverAndReadBack(t *testing.T) {
	c := startCluster(t, 3)
	cfg := smallExtents()
	cfg.MaxExtentSize = extent.ExtentHeaderSize + 40*extent.BlockSize(8000) // rollover every ~40 blocks
	cl := c.client(cfg)
	ctx := context.Background()
	w, err := cl.OpenWriter(ctx, "test/rollover")
	if err != nil {
		t.Fatal(err)
	}
	const n = 150
	var addrs []Address
	for i := range n {
		a, err := w.Append(ctx, extent.Block{Payload: payload(i), UserData: []byte(fmt.Sprint(i))})
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		addrs = append(addrs, a[0])
	}
	got := readAll(t, cl, "test/rollover")
	if len(got) != n {
		t.Fatalf("read %d blocks, want %d", len(got), n)
	}
	extents := map[uint64]bool{}
	for i, b := range got {
		if b.Address != addrs[i] || !bytes.Equal(b.Payload, payload(i)) || string(b.UserData) != fmt.Sprint(i) {
			t.Fatalf("block %d at %v differs (appended at %v)", i, b.Address, addrs[i])
		}
		extents[b.Extent] = true
	}
	if len(extents) < 3 {
		t.Fatalf("%d blocks stayed in %d extents; rollover did not happen", n, len(extents))
	}
}

// TestLostAckDoesNotDuplicate: the replicas wrote the block but the writer
// never heard; the seal tells it the block landed, so it is not written
// again.
func TestLostAckDoesNotDuplicate(t *testing.T) {
	c := startCluster(t, 3)
	cl := c.client(smallExtents())
	ctx := context.Background()
	w, err := cl.OpenWriter(ctx, "test/exactly-once")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	lost := 0
	cl.afterAppend = func(err error) error {
		mu.Lock()
		defer mu.Unlock()
		if err == nil && lost < 3 {
			lost++
			return status.Error(codes.Unavailable, "injected: ack lost after the replicas wrote")
		}
		return err
	}
	for i := range 10 {
		if _, err := w.Append(ctx, extent.Block{Payload: payload(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if lost != 3 {
		t.Fatalf("injected %d lost acks", lost)
	}
	got := readAll(t, cl, "test/exactly-once")
	if len(got) != 10 {
		t.Fatalf("read %d blocks after 3 lost acks, want 10", len(got))
	}
	for i, b := range got {
		if !bytes.Equal(b.Payload, payload(i)) {
			t.Fatalf("block %d out of order or duplicated", i)
		}
	}
}

// TestTailingReaderAcrossRollovers: a following reader sees every block
// appended while it runs, across rollovers, with no gaps or repeats.
func TestTailingReaderAcrossRollovers(t *testing.T) {
	c := startCluster(t, 3)
	cfg := smallExtents()
	cfg.MaxExtentSize = extent.ExtentHeaderSize + 10*extent.BlockSize(8000)
	cl := c.client(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w, err := cl.OpenWriter(ctx, "test/tail")
	if err != nil {
		t.Fatal(err)
	}
	r, err := cl.OpenReader(ctx, "test/tail", Address{}, true)
	if err != nil {
		t.Fatal(err)
	}
	const n = 60
	got := make(chan []Block, n)
	readErr := make(chan error, 1)
	go func() {
		count := 0
		for count < n {
			blocks, err := r.Next(ctx)
			if err != nil {
				readErr <- err
				return
			}
			count += len(blocks)
			got <- blocks
		}
		readErr <- nil
	}()
	for i := range n {
		if _, err := w.Append(ctx, extent.Block{Payload: payload(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
	close(got)
	i := 0
	for blocks := range got {
		for _, b := range blocks {
			if !bytes.Equal(b.Payload, payload(i)) {
				t.Fatalf("tail block %d at %v is not block %d", i, b.Address, i)
			}
			i++
		}
	}
	if i != n {
		t.Fatalf("tailing reader saw %d blocks, want %d", i, n)
	}
}

func TestBadInputComesBackAtOnce(t *testing.T) {
	c := startCluster(t, 3)
	cl := c.client(smallExtents())
	ctx := context.Background()
	w, err := cl.OpenWriter(ctx, "test/bad")
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if _, err := w.Append(ctx, extent.Block{}); !errors.Is(err, ErrPermanent) {
		t.Fatalf("empty block: %v", err)
	}
	if _, err := cl.OpenWriter(ctx, "bad name"); err == nil {
		t.Fatal("a bad stream name was accepted")
	}
	if _, err := cl.OpenReader(ctx, "no/such/stream", Address{}, false); err == nil {
		t.Fatal("reading a missing stream succeeded")
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Fatalf("permanent errors took %v: they were retried", took)
	}
}
