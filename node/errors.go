package node

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"google.golang.org/grpc/codes"

	"github.com/clogs-io/clogs/erasure"
	"github.com/clogs-io/clogs/extent"
	"github.com/clogs-io/clogs/internal/rpcerr"
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
	// ErrDiskFull: every disk in service is above the high-water mark.
	ErrDiskFull = errors.New("node: every disk is above the high-water mark")
	// ErrSourceUnreachable: no repair source answered.
	ErrSourceUnreachable = errors.New("node: no repair source could be reached")
	// ErrSourceCorrupt: the repair sources that answered served a block
	// that failed its checksum.
	ErrSourceCorrupt = errors.New("node: the repair sources hold corrupt blocks")
	// ErrSourceMismatch: the repair sources that answered do not hold the
	// extent sealed at the requested length.
	ErrSourceMismatch = errors.New("node: no repair source holds the extent sealed at the requested length")
	// ErrNoShard: the node holds no such shard of a coded extent.
	ErrNoShard = errors.New("node: no such shard")
	// ErrNotSealed: the replica to encode into shards is not sealed.
	ErrNotSealed = errors.New("node: the replica is not sealed")
	// ErrShardTargetFailed: a node that was to take a shard from
	// EncodeShards failed; the error wraps that node's own error too.
	ErrShardTargetFailed = errors.New("node: a shard target failed")
	// ErrTooFewShards: fewer than d of a shard rebuild's sources could
	// be read, for the whole shard or for one of its stripes.
	ErrTooFewShards = errors.New("node: too few good shards to rebuild from")
)

// codeTable is the one place that maps domain errors to gRPC codes and
// stable reasons. The first matching row wins.
var codeTable = rpcerr.Table{
	// A repair source's failure wraps that source's own error too.
	rpcerr.Map(ErrSourceUnreachable, codes.Unavailable, "source-unreachable"),
	rpcerr.Map(ErrSourceCorrupt, codes.DataLoss, "source-corrupt"),
	rpcerr.Map(ErrSourceMismatch, codes.FailedPrecondition, "source-mismatch"),
	// A shard target's failure wraps that target's own error too.
	rpcerr.Map(ErrShardTargetFailed, codes.FailedPrecondition, "shard-target-failed"),
	// Before the shard errors: a rebuild that found too few good sources
	// may wrap their corruption.
	rpcerr.Map(ErrTooFewShards, codes.FailedPrecondition, "too-few-shards"),
	// First: a replica's failure wraps that replica's own error (not
	// found, sealed, ...), which is not this node's answer.
	rpcerr.Map(ErrReplicaFailed, codes.FailedPrecondition, "replica-failed"),
	rpcerr.Map(ErrBadRequest, codes.InvalidArgument, "bad-request"),
	rpcerr.Map(extent.ErrBlockSize, codes.InvalidArgument, "bad-block-size"),
	rpcerr.Map(extent.ErrUserDataSize, codes.InvalidArgument, "bad-user-data-size"),
	rpcerr.Map(extent.ErrBadOffset, codes.InvalidArgument, "bad-offset"),
	rpcerr.Map(extent.ErrBadSealLength, codes.InvalidArgument, "bad-seal-length"),
	rpcerr.Map(ErrNotFound, codes.NotFound, "not-found"),
	rpcerr.Map(ErrNoShard, codes.NotFound, "shard-not-found"),
	rpcerr.Map(ErrNotSealed, codes.FailedPrecondition, "not-sealed"),
	rpcerr.Map(erasure.ErrCorrupt, codes.DataLoss, "shard-corrupt"),
	rpcerr.Map(erasure.ErrBadHeader, codes.DataLoss, "shard-bad-header"),
	rpcerr.Map(ErrExists, codes.AlreadyExists, "exists"),
	rpcerr.Map(extent.ErrOffsetMismatch, codes.Aborted, "offset-mismatch"),
	rpcerr.Map(extent.ErrSealConflict, codes.FailedPrecondition, "seal-conflict"),
	rpcerr.Map(extent.ErrSealed, codes.FailedPrecondition, "sealed"),
	rpcerr.Map(ErrFenced, codes.FailedPrecondition, "sealing"),
	// Before "failed": an extent that failed because its disk is full
	// says so. ErrDiskFull comes first, so that "disk-full" maps back to
	// it.
	rpcerr.Map(ErrDiskFull, codes.ResourceExhausted, "disk-full"),
	rpcerr.Map(syscall.ENOSPC, codes.ResourceExhausted, "disk-full"),
	rpcerr.Map(extent.ErrFailed, codes.FailedPrecondition, "failed"),
	rpcerr.Map(ErrNotPrimary, codes.FailedPrecondition, "not-primary"),
	rpcerr.Map(ErrRecovering, codes.FailedPrecondition, "recovering"),
	rpcerr.Map(extent.ErrFull, codes.ResourceExhausted, "full"),
	rpcerr.Map(ErrNoDisk, codes.ResourceExhausted, "no-disk"),
	rpcerr.Map(extent.ErrCorrupt, codes.DataLoss, "corrupt"),
	rpcerr.Map(ErrShuttingDown, codes.Unavailable, "shutting-down"),
	rpcerr.Map(extent.ErrClosed, codes.Unavailable, "closed"),
	rpcerr.Map(context.DeadlineExceeded, codes.DeadlineExceeded, "deadline"),
	rpcerr.Map(context.Canceled, codes.Canceled, "canceled"),
}

// ToStatus turns a domain error into a gRPC status error with an
// ErrorDetail. Unknown errors are Internal.
func ToStatus(err error, extentID uint64) error {
	detail := &clogspb.ErrorDetail{ExtentId: extentID}
	var mismatch *extent.OffsetMismatchError
	if errors.As(err, &mismatch) {
		detail.End = mismatch.End
	}
	var corrupt *extent.CorruptionError
	if errors.As(err, &corrupt) {
		detail.Offset = corrupt.Offset
	}
	var corruptChunk *erasure.CorruptionError
	if errors.As(err, &corruptChunk) {
		detail.Offset = corruptChunk.Offset // in the shard file
	}
	return codeTable.Status(err, detail)
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
	st, detail, ok := rpcerr.Parse(err)
	if !ok {
		return err
	}
	remote := &RemoteError{Code: st.Code(), Message: st.Message(), Reason: detail.Reason,
		ExtentID: detail.ExtentId, End: detail.End, Offset: detail.Offset, sentinel: codeTable.Sentinel(detail.Reason)}
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
