package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/clogs-io/clogs/streamclient"
	"github.com/clogs-io/clogs/streammanager"
)

// managerAddrs splits --sm, a comma list of host:port.
func managerAddrs(sm string) ([]string, error) {
	var addrs []string
	for a := range strings.SplitSeq(sm, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return nil, &usageError{errors.New("--sm: no stream manager address")}
	}
	return addrs, nil
}

// newClient builds a stream client of the managers --sm names. The caller
// closes it.
func newClient(opts *globalOptions) (*streamclient.Client, error) {
	return newClientWith(opts, func(*streamclient.Config) {})
}

// newClientWith is newClient with settings of its own.
func newClientWith(opts *globalOptions, set func(*streamclient.Config)) (*streamclient.Client, error) {
	addrs, err := managerAddrs(opts.sm)
	if err != nil {
		return nil, err
	}
	cfg := streamclient.DefaultConfig()
	cfg.Managers = addrs
	if opts.maxExtentSize > 0 {
		cfg.MaxExtentSize = uint64(opts.maxExtentSize)
	}
	set(&cfg)
	return streamclient.New(cfg)
}

// checkStreamName rejects a name no stream can have before any call, so
// that a typo is not sent to the cluster (nor, for append, creates a
// stream).
func checkStreamName(name string) error {
	if streammanager.ValidateStreamName(name) != nil {
		return fmt.Errorf("bad stream name %q: want 1-255 bytes of [A-Za-z0-9._/-]", name)
	}
	return nil
}

// streamError makes an error of a call about stream name one clear line:
// "stream NAME not found" rather than the manager's status text.
func streamError(name string, err error) error {
	if errors.Is(err, streammanager.ErrNotFound) {
		return fmt.Errorf("stream %q not found", name)
	}
	return managerError(err)
}

// managerError shortens a stream manager's error to its message.
func managerError(err error) error {
	var remote *streammanager.RemoteError
	if errors.As(err, &remote) && remote.Message != "" {
		return errors.New(remote.Message)
	}
	return err
}

// printJSON writes m as one JSON object and a newline.
func printJSON(w io.Writer, m proto.Message) error {
	b, err := protojson.MarshalOptions{Multiline: true, EmitUnpopulated: true}.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
