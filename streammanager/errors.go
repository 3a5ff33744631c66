package streammanager

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clogspb "github.com/clogs-io/clogs/proto"
)

// Errors of the stream manager. Across gRPC they travel as a status code
// and an ErrorDetail reason; FromStatus maps them back.
var (
	ErrNotLeader   = errors.New("streammanager: not the leader")
	ErrNotFound    = errors.New("streammanager: not found")
	ErrBadRequest  = errors.New("streammanager: bad request")
	ErrSealFailed  = errors.New("streammanager: too few replicas answered to seal")
	ErrAllocFailed = errors.New("streammanager: could not allocate the extent on enough nodes")
)

// NotLeaderError says who leads, when known.
type NotLeaderError struct{ Leader string }

func (e *NotLeaderError) Error() string {
	if e.Leader == "" {
		return "streammanager: not the leader, and no leader is known"
	}
	return "streammanager: not the leader; the leader is " + e.Leader
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

var codeTable = []struct {
	err    error
	code   codes.Code
	reason string
}{
	{ErrNotLeader, codes.Unavailable, "not-leader"},
	{ErrBadRequest, codes.InvalidArgument, "bad-request"},
	{ErrNotFound, codes.NotFound, "not-found"},
	{ErrNotEnoughNodes, codes.ResourceExhausted, "not-enough-nodes"},
	{ErrSealFailed, codes.Unavailable, "seal-failed"},
	{ErrAllocFailed, codes.Unavailable, "alloc-failed"},
}

// ToStatus maps a domain error to a gRPC status with an ErrorDetail.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	detail := &clogspb.ErrorDetail{Reason: "internal"}
	code := codes.Internal
	for _, row := range codeTable {
		if errors.Is(err, row.err) {
			code, detail.Reason = row.code, row.reason
			break
		}
	}
	var notLeader *NotLeaderError
	if errors.As(err, &notLeader) {
		detail.Leader = notLeader.Leader
	}
	st, derr := status.New(code, err.Error()).WithDetails(detail)
	if derr != nil {
		return status.Error(code, err.Error())
	}
	return st.Err()
}

// RemoteError is a stream manager's error mapped back by FromStatus;
// errors.Is matches the sentinel of its reason.
type RemoteError struct {
	Code     codes.Code
	Reason   string
	Leader   string
	Message  string
	sentinel error
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("stream-manager: %s (%s): %s", e.Reason, e.Code, e.Message)
}

// Unwrap returns the sentinel of the reason.
func (e *RemoteError) Unwrap() error { return e.sentinel }

// FromStatus maps a gRPC error from a stream manager to a *RemoteError.
func FromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return err
	}
	remote := &RemoteError{Code: st.Code(), Message: st.Message(), Reason: "unknown"}
	for _, d := range st.Details() {
		if detail, ok := d.(*clogspb.ErrorDetail); ok {
			remote.Reason, remote.Leader = detail.Reason, detail.Leader
		}
	}
	for _, row := range codeTable {
		if row.reason == remote.Reason {
			remote.sentinel = row.err
		}
	}
	return remote
}
