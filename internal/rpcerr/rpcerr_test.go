package rpcerr

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clogspb "github.com/clogs-io/clogs/proto"
)

var (
	errGone = errors.New("gone")
	errBusy = errors.New("busy")
	table   = Table{Map(errGone, codes.NotFound, "gone"), Map(errBusy, codes.Unavailable, "busy")}
)

func TestRoundTrip(t *testing.T) {
	cases := []struct {
		err    error
		code   codes.Code
		reason string
	}{
		{fmt.Errorf("extent 7: %w", errGone), codes.NotFound, "gone"},
		{errBusy, codes.Unavailable, "busy"},
		{errors.New("surprise"), codes.Internal, "internal"},
	}
	for _, c := range cases {
		err := table.Status(c.err, &clogspb.ErrorDetail{ExtentId: 7})
		st, detail, ok := Parse(err)
		if !ok || st.Code() != c.code || detail.Reason != c.reason || detail.ExtentId != 7 || st.Message() != c.err.Error() {
			t.Errorf("%v: code %v, detail %v", c.err, st.Code(), detail)
		}
		if want := table.Sentinel(c.reason); c.reason != "internal" && !errors.Is(c.err, want) {
			t.Errorf("reason %q maps back to %v", c.reason, want)
		}
	}
	plain := status.Error(codes.Aborted, "from grpc")
	if table.Status(plain, &clogspb.ErrorDetail{}) != plain {
		t.Error("a status error was rewrapped")
	}
	if _, detail, ok := Parse(plain); !ok || detail.Reason != "unknown" {
		t.Errorf("status without detail: %v %v", detail, ok)
	}
	if _, _, ok := Parse(errGone); ok {
		t.Error("a plain error parsed as a status")
	}
}
