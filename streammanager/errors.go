package streammanager

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"

	"github.com/clogs-io/clogs/internal/rpcerr"
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

var codeTable = rpcerr.Table{
	rpcerr.Map(ErrNotLeader, codes.Unavailable, "not-leader"),
	rpcerr.Map(ErrBadRequest, codes.InvalidArgument, "bad-request"),
	rpcerr.Map(ErrNotFound, codes.NotFound, "not-found"),
	rpcerr.Map(ErrNotEnoughNodes, codes.ResourceExhausted, "not-enough-nodes"),
	rpcerr.Map(ErrSealFailed, codes.Unavailable, "seal-failed"),
	rpcerr.Map(ErrAllocFailed, codes.Unavailable, "alloc-failed"),
	rpcerr.Map(ErrMetadataFull, codes.ResourceExhausted, "metadata-full"),
}

// ToStatus maps a domain error to a gRPC status with an ErrorDetail.
func ToStatus(err error) error {
	detail := &clogspb.ErrorDetail{}
	var notLeader *NotLeaderError
	if errors.As(err, &notLeader) {
		detail.Leader = notLeader.Leader
	}
	return codeTable.Status(err, detail)
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
	st, detail, ok := rpcerr.Parse(err)
	if !ok {
		return err
	}
	return &RemoteError{Code: st.Code(), Message: st.Message(), Reason: detail.Reason,
		Leader: detail.Leader, sentinel: codeTable.Sentinel(detail.Reason)}
}
