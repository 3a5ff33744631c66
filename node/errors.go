package node

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/clogs-io/clogs/extent"
	clogspb "github.com/clogs-io/clogs/proto"
)

// Errors of the extent-node. Test with errors.Is; across gRPC they travel as
// a status code plus an ErrorDetail reason, and FromStatus maps them back.
var (
	ErrNotFound      = errors.New("node: no such extent")
	ErrExists        = errors.New("node: extent exists with other contents or replicas")
	ErrNotPrimary    = errors.New("node: not the primary of this unsealed extent")
	ErrFenced        = errors.New("node: extent is being sealed; it takes no more appends")
	ErrRecovering    = errors.New("node: unsealed extent from before a restart; it takes no appends and serves no reads until it is sealed")
	ErrReplicaFailed = errors.New("node: a replica failed; the extent takes no more appends until it is sealed")
	ErrBadRequest    = errors.New("node: bad request")
	ErrShuttingDown  = errors.New("node: shutting down")
	ErrNoDisk        = errors.New("node: no disk can take a new extent")
)

// codeTable is the one place that maps domain errors to gRPC codes and
// stable reasons. The first matching row wins.
var codeTable = []struct {
	err    error
	code   codes.Code
	reason string
}{
	// First: a replica's failure wraps that replica's own error (not
	// found, sealed, ...), which is not this node's answer.
	{ErrReplicaFailed, codes.FailedPrecondition, "replica-failed"},
	{ErrBadRequest, codes.InvalidArgument, "bad-request"},
	{extent.ErrBlockSize, codes.InvalidArgument, "bad-block-size"},
	{extent.ErrUserDataSize, codes.InvalidArgument, "bad-user-data-size"},
	{extent.ErrBadOffset, codes.InvalidArgument, "bad-offset"},
	{extent.ErrBadSealLength, codes.InvalidArgument, "bad-seal-length"},
	{ErrNotFound, codes.NotFound, "not-found"},
	{ErrExists, codes.AlreadyExists, "exists"},
	{extent.ErrOffsetMismatch, codes.Aborted, "offset-mismatch"},
	{extent.ErrSealConflict, codes.FailedPrecondition, "seal-conflict"},
	{extent.ErrSealed, codes.FailedPrecondition, "sealed"},
	{ErrFenced, codes.FailedPrecondition, "sealing"},
	{extent.ErrFailed, codes.FailedPrecondition, "failed"},
	{ErrNotPrimary, codes.FailedPrecondition, "not-primary"},
	{ErrRecovering, codes.FailedPrecondition, "recovering"},
	{extent.ErrFull, codes.ResourceExhausted, "full"},
	{ErrNoDisk, codes.ResourceExhausted, "no-disk"},
	{extent.ErrCorrupt, codes.DataLoss, "corrupt"},
	{ErrShuttingDown, codes.Unavailable, "shutting-down"},
	{extent.ErrClosed, codes.Unavailable, "closed"},
	{context.DeadlineExceeded, codes.DeadlineExceeded, "deadline"},
	{context.Canceled, codes.Canceled, "canceled"},
	{syscall.ENOSPC, codes.ResourceExhausted, "disk-full"},
}

// ToStatus turns a domain error into a gRPC status error with an
// ErrorDetail. Unknown errors are Internal.
func ToStatus(err error, extentID uint64) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	detail := &clogspb.ErrorDetail{Reason: "internal", ExtentId: extentID}
	code := codes.Internal
	for _, row := range codeTable {
		if errors.Is(err, row.err) {
			code, detail.Reason = row.code, row.reason
			break
		}
	}
	var mismatch *extent.OffsetMismatchError
	if errors.As(err, &mismatch) {
		detail.End = mismatch.End
	}
	var corrupt *extent.CorruptionError
	if errors.As(err, &corrupt) {
		detail.Offset = corrupt.Offset
	}
	st, derr := status.New(code, err.Error()).WithDetails(detail)
	if derr != nil {
		return status.Error(code, err.Error())
	}
	return st.Err()
}

// RemoteError is an error a node returned, mapped back: errors.Is matches
// the sentinel of its reason (extent.ErrSealed, ErrNotPrimary, ...).
type RemoteError struct {
	Code     codes.Code
	Reason   string
	ExtentID uint64
	End      uint64 // for offset mismatches: the extent's end
	Offset   uint64 // for corruption: where
	Message  string
	sentinel error
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("extent-node: %s (%s): %s", e.Reason, e.Code, e.Message)
}

// Unwrap returns the sentinel error of the reason, if known.
func (e *RemoteError) Unwrap() error { return e.sentinel }

// FromStatus maps an error from an extent-node call back to a
// *RemoteError; errors that are not gRPC statuses come back unchanged.
func FromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok || err == nil {
		return err
	}
	remote := &RemoteError{Code: st.Code(), Message: st.Message(), Reason: "unknown"}
	for _, d := range st.Details() {
		if detail, ok := d.(*clogspb.ErrorDetail); ok {
			remote.Reason, remote.ExtentID, remote.End, remote.Offset = detail.Reason, detail.ExtentId, detail.End, detail.Offset
		}
	}
	for _, row := range codeTable {
		if row.reason == remote.Reason {
			remote.sentinel = row.err
			break
		}
	}
	if remote.sentinel == nil {
		remote.sentinel = codeSentinel(st.Code())
	}
	return remote
}

// codeSentinel maps a status without a known reason (from gRPC itself,
// say) to the closest sentinel.
func codeSentinel(code codes.Code) error {
	switch code {
	case codes.DeadlineExceeded:
		return context.DeadlineExceeded
	case codes.Canceled:
		return context.Canceled
	}
	return nil
}
