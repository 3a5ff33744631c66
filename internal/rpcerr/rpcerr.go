// Package rpcerr owns the mapping between domain errors and gRPC statuses
// that every clogs service uses: one table of (sentinel, code, reason) rows
// per service, the reason carried in a clogspb.ErrorDetail so that clients
// can map a status back to the sentinel without parsing messages.
package rpcerr

import (
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clogspb "github.com/clogs-io/clogs/proto"
)

// Row maps one sentinel error to a code and a stable reason.
type Row struct {
	Err    error
	Code   codes.Code
	Reason string
}

// Table is a service's error table; the first row whose sentinel matches
// (errors.Is) wins.
type Table []Row

// Status turns err into a status error carrying detail, whose Reason the
// table sets ("internal" and codes.Internal when no row matches). Status
// errors pass through unchanged.
func (t Table) Status(err error, detail *clogspb.ErrorDetail) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	detail.Reason = "internal"
	for _, row := range t {
		if errors.Is(err, row.Err) {
			code, detail.Reason = row.Code, row.Reason
			break
		}
	}
	st, derr := status.New(code, err.Error()).WithDetails(detail)
	if derr != nil {
		return status.Error(code, err.Error())
	}
	return st.Err()
}

// Sentinel returns the sentinel error of a reason, or nil.
func (t Table) Sentinel(reason string) error {
	for _, row := range t {
		if row.Reason == reason {
			return row.Err
		}
	}
	return nil
}

// Parse splits a status error into its status and ErrorDetail (an empty
// detail with reason "unknown" when it carries none). ok is false for
// errors that are not statuses.
func Parse(err error) (st *status.Status, detail *clogspb.ErrorDetail, ok bool) {
	st, ok = status.FromError(err)
	if !ok || err == nil {
		return nil, nil, false
	}
	detail = &clogspb.ErrorDetail{Reason: "unknown"}
	for _, d := range st.Details() {
		if found, isDetail := d.(*clogspb.ErrorDetail); isDetail {
			detail = found
		}
	}
	return st, detail, true
}

// Map is a row of a table: err maps to code and reason.
func Map(err error, code codes.Code, reason string) Row {
	return Row{Err: err, Code: code, Reason: reason}
}
