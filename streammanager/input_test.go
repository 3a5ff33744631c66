package streammanager

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	clogspb "github.com/clogs-io/clogs/proto"
)

// TestBadInput: unknown things are NotFound, malformed ones are
// InvalidArgument and write nothing; re-creating a stream and
// re-registering a node are idempotent.
func TestBadInput(t *testing.T) {
	ctx := testCtx(t, 60*time.Second)
	m := startManager(t, managerConfig(t, t.TempDir()))
	waitLeader(t, m)
	sm := smClient(t, m)
	nodes := startNodes(t, 3)
	nodeIDs := registerNodes(t, sm, nodes)
	startHeartbeats(t, sm, nodeIDs...)
	s, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "good/name-1.log"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: s.Stream.Id})
	if err != nil {
		t.Fatal(err)
	}
	other, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	lo, err := sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: other.Stream.Id})
	if err != nil {
		t.Fatal(err)
	}

	stored := etcdState(t, m)
	list, err := sm.ListStreams(ctx, &clogspb.ListStreamsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	unchanged := func(what string) {
		t.Helper()
		got, err := sm.ListStreams(ctx, &clogspb.ListStreamsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Revision != list.Revision || len(got.Streams) != len(list.Streams) {
			t.Errorf("%s: streams %v at revision %d, were %v at %d", what, got.Streams, got.Revision, list.Streams, list.Revision)
		}
		if !sameState(stored, etcdState(t, m)) {
			t.Errorf("%s changed etcd", what)
		}
	}

	// Not found.
	for _, tc := range []struct {
		what string
		call func() error
	}{
		{"StreamInfo unknown ID", func() error { _, err := sm.StreamInfo(ctx, byID(987654)); return err }},
		{"StreamInfo unknown name", func() error { _, err := sm.StreamInfo(ctx, byName("no/such")); return err }},
		{"ExtentInfo unknown", func() error {
			_, err := sm.ExtentInfo(ctx, &clogspb.ExtentInfoRequest{ExtentId: 987654})
			return err
		}},
		{"ExtentInfo 0", func() error { _, err := sm.ExtentInfo(ctx, &clogspb.ExtentInfoRequest{}); return err }},
		{"StreamAllocExtent unknown stream", func() error {
			_, err := sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: 987654})
			return err
		}},
		{"TruncateStream unknown stream", func() error {
			_, err := sm.TruncateStream(ctx, &clogspb.TruncateStreamRequest{StreamId: 987654, FirstKeptExtentId: l.Extents[0].Id})
			return err
		}},
		{"DeleteStream unknown stream", func() error {
			_, err := sm.DeleteStream(ctx, &clogspb.DeleteStreamRequest{StreamId: 987654})
			return err
		}},
		{"Heartbeat unknown node", func() error {
			_, err := sm.Heartbeat(ctx, &clogspb.HeartbeatRequest{NodeId: 987654})
			return err
		}},
	} {
		re := wantRemote(t, tc.call(), codes.NotFound, "not-found")
		if !errors.Is(re, ErrNotFound) {
			t.Errorf("%s: %v does not match ErrNotFound", tc.what, re)
		}
		unchanged(tc.what)
	}

	// Malformed stream names.
	for _, name := range []string{"", strings.Repeat("a", 256), "a b", "é", "caf\u00e9", "a\x00b", "a\n", "a\tb", "a:b", "a*"} {
		_, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: name})
		re := wantRemote(t, err, codes.InvalidArgument, "bad-request")
		if !errors.Is(re, ErrBadRequest) {
			t.Errorf("%q: %v does not match ErrBadRequest", name, re)
		}
		if name != "" {
			_, err = sm.StreamInfo(ctx, byName(name))
			wantRemote(t, err, codes.InvalidArgument, "bad-request")
		}
		unchanged("CreateStream " + name)
	}
	// Not valid UTF-8: gRPC cannot carry it, so ask the manager directly.
	if _, err := m.createStream("a\xffb", nil); !errors.Is(err, ErrBadRequest) {
		t.Errorf("invalid UTF-8 name: %v", err)
	}
	unchanged("CreateStream of invalid UTF-8")

	// 255 bytes is the longest name; creating a name again is idempotent.
	long := strings.Repeat("z", 255)
	first, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: long})
	if err != nil {
		t.Fatal(err)
	}
	stored = etcdState(t, m)
	if list, err = sm.ListStreams(ctx, &clogspb.ListStreamsRequest{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{long, s.Stream.Name} {
		again, err := sm.CreateStream(ctx, &clogspb.CreateStreamRequest{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		want := first.Stream.Id
		if name == s.Stream.Name {
			want = s.Stream.Id
			if len(again.Extents) != 1 || again.Extents[0].Id != l.Extents[0].Id {
				t.Errorf("re-create returned layout %v", again.Extents)
			}
		}
		if again.Stream.Id != want {
			t.Errorf("re-create of %q gave ID %d, want %d", name, again.Stream.Id, want)
		}
		unchanged("re-create " + name)
	}

	// Nodes: a known UUID at a new address keeps its ID; malformed input is
	// refused.
	uuid := newUUID()
	n1, err := sm.RegisterNode(ctx, &clogspb.RegisterNodeRequest{Uuid: uuid, Addr: "127.0.0.1:4001"})
	if err != nil {
		t.Fatal(err)
	}
	n2, err := sm.RegisterNode(ctx, &clogspb.RegisterNodeRequest{Uuid: uuid, Addr: "127.0.0.1:4002"})
	if err != nil {
		t.Fatal(err)
	}
	if n2.NodeId != n1.NodeId {
		t.Errorf("re-register at a new address: ID %d, was %d", n2.NodeId, n1.NodeId)
	}
	info, err := sm.NodesInfo(ctx, &clogspb.NodesInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var found int
	for _, n := range info.Nodes {
		if n.Node.Uuid == uuid {
			found++
			if n.Node.Id != n1.NodeId || n.Node.Addr != "127.0.0.1:4002" {
				t.Errorf("node after address change: %v", n.Node)
			}
		}
	}
	if found != 1 || len(info.Nodes) != 4 {
		t.Errorf("%d nodes with the UUID, %d in all", found, len(info.Nodes))
	}
	stored = etcdState(t, m)
	if list, err = sm.ListStreams(ctx, &clogspb.ListStreamsRequest{}); err != nil {
		t.Fatal(err)
	}
	for _, req := range []*clogspb.RegisterNodeRequest{
		{Uuid: newUUID(), Addr: "no-port"},
		{Uuid: newUUID(), Addr: ":4001"},
		{Uuid: newUUID(), Addr: "127.0.0.1:"},
		{Uuid: newUUID(), Addr: ""},
		{Uuid: uuid, Addr: "bad address"}, // a known UUID keeps its address
		{Uuid: "not-a-uuid", Addr: "127.0.0.1:4003"},
		{Uuid: "", Addr: "127.0.0.1:4003"},
		{Uuid: uuid[:len(uuid)-1], Addr: "127.0.0.1:4003"},
	} {
		_, err := sm.RegisterNode(ctx, req)
		wantRemote(t, err, codes.InvalidArgument, "bad-request")
		unchanged("RegisterNode " + req.Uuid + " " + req.Addr)
	}

	// AllocID bounds.
	for _, n := range []uint32{0, maxAllocIDs + 1, 1 << 31} {
		_, err := sm.AllocID(ctx, &clogspb.AllocIDRequest{Count: n})
		wantRemote(t, err, codes.InvalidArgument, "bad-request")
	}
	if resp, err := sm.AllocID(ctx, &clogspb.AllocIDRequest{Count: maxAllocIDs}); err != nil || resp.Count != maxAllocIDs {
		t.Errorf("AllocID of the most: %v %v", resp, err)
	}
	stored = etcdState(t, m)
	if list, err = sm.ListStreams(ctx, &clogspb.ListStreamsRequest{}); err != nil {
		t.Fatal(err)
	}

	// Stream 0, and truncating at an extent of another stream or at none.
	_, err = sm.StreamAllocExtent(ctx, &clogspb.StreamAllocExtentRequest{StreamId: 0, TailExtentId: l.Extents[0].Id})
	wantRemote(t, err, codes.InvalidArgument, "bad-request")
	for _, kept := range []uint64{lo.Extents[0].Id, 987654, 0} {
		_, err = sm.TruncateStream(ctx, &clogspb.TruncateStreamRequest{StreamId: s.Stream.Id, FirstKeptExtentId: kept})
		wantRemote(t, err, codes.InvalidArgument, "bad-request")
	}
	unchanged("bad StreamAllocExtent and TruncateStream")
	// Truncating at the first extent keeps everything; it is allowed.
	if tr, err := sm.TruncateStream(ctx, &clogspb.TruncateStreamRequest{StreamId: s.Stream.Id, FirstKeptExtentId: l.Extents[0].Id}); err != nil || len(tr.Extents) != 1 {
		t.Errorf("truncate at the first extent: %v %v", tr, err)
	}
}
