package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/clogs-io/clogs/internal/daemon"
	clogspb "github.com/clogs-io/clogs/proto"
	"github.com/clogs-io/clogs/streamclient"
)

type jsonOption struct {
	json bool
}

// policyOptions are the retention flags of create and policy.
type policyOptions struct {
	maxAge   time.Duration
	maxBytes daemon.ByteSize
	ec       string
	ecAfter  time.Duration
}

func (p *policyOptions) addFlags(f *pflag.FlagSet) {
	f.DurationVar(&p.maxAge, "max-age", 0, "retention: drop sealed extents sealed longer ago than this (0: keep)")
	f.Var(&p.maxBytes, "max-bytes", "retention: drop the oldest sealed extents while the stream's sealed bytes exceed this (KiB, MiB, GiB suffixes; 0: keep)")
	f.StringVar(&p.ec, "ec", "", "erasure-code sealed extents into D+P shards on distinct nodes, e.g. 4+2, or auto: 4+2 with at least 6 live nodes, 3+2 with 5, 2+1 with 3 or 4 (empty: keep three replicas)")
	f.DurationVar(&p.ecAfter, "ec-after", 0, "with --ec: code extents sealed at least this long ago")
}

func (p *policyOptions) policy() (*clogspb.StreamPolicy, error) {
	if p.maxAge < 0 || p.maxAge%time.Second != 0 {
		return nil, &usageError{fmt.Errorf("--max-age %v: whole seconds, not negative", p.maxAge)}
	}
	policy := &clogspb.StreamPolicy{MaxAgeSeconds: int64(p.maxAge / time.Second), MaxBytes: uint64(p.maxBytes)}
	if p.ec == "" {
		return policy, nil
	}
	if p.ecAfter < 0 || p.ecAfter%time.Second != 0 {
		return nil, &usageError{fmt.Errorf("--ec-after %v: whole seconds, not negative", p.ecAfter)}
	}
	if p.ec == "auto" {
		policy.EcAfterSeconds = -1 // resolveAuto picks d+p from the live nodes
		return policy, nil
	}
	var d, par uint32
	if n, err := fmt.Sscanf(p.ec, "%d+%d", &d, &par); err != nil || n != 2 || d == 0 || par == 0 || fmt.Sprintf("%d+%d", d, par) != p.ec {
		return nil, &usageError{fmt.Errorf("--ec %q: want D+P, like 4+2, or auto", p.ec)}
	}
	policy.EcData, policy.EcParity, policy.EcAfterSeconds = d, par, int64(p.ecAfter/time.Second)
	return policy, nil
}

func newCreateCmd(global *globalOptions) *cobra.Command {
	opts := &jsonOption{}
	retention := &policyOptions{}
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a stream (or show the existing one of that name)",
		Long: `Create stream NAME and print its ID and name. Creating a stream that
exists is not an error: its ID is printed. Stream names are 1-255 bytes of
[A-Za-z0-9._/-]. --max-age and --max-bytes give a new stream a retention
policy (see "policy" to change it later).

With --json it prints the manager's StreamResponse as one JSON object.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkStreamName(name); err != nil {
				return err
			}
			cl, err := newClient(global)
			if err != nil {
				return err
			}
			defer cl.Close()
			policy, err := retention.policy()
			if err != nil {
				return err
			}
			if err := retention.resolveAuto(cmd.Context(), cl, policy); err != nil {
				return err
			}
			resp, err := cl.CreateStreamWithPolicy(cmd.Context(), name, policy)
			if err != nil {
				return managerError(err)
			}
			if opts.json {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%d %s\n", resp.GetStream().GetId(), resp.GetStream().GetName())
			return err
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON object")
	retention.addFlags(cmd.Flags())
	return cmd
}

func newPolicyCmd(global *globalOptions) *cobra.Command {
	opts := &jsonOption{}
	retention := &policyOptions{}
	cmd := &cobra.Command{
		Use:   "policy NAME",
		Short: "Set a stream's retention policy",
		Long: `Set stream NAME's retention policy: the stream manager drops whole sealed
extents from the front of the stream when they were sealed longer ago than
--max-age, and while the stream's sealed bytes exceed --max-bytes. The tail
is never dropped. 0 (the default) means no limit, so "policy NAME" alone
clears the policy. --ec D+P (with --ec-after) erasure-codes sealed extents
into D data and P parity shards on distinct nodes once they have been sealed
that long: (D+P)/D of the bytes instead of three copies, readable while at
most P shards are lost.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := checkStreamName(name); err != nil {
				return err
			}
			policy, err := retention.policy()
			if err != nil {
				return err
			}
			cl, err := newClient(global)
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := retention.resolveAuto(cmd.Context(), cl, policy); err != nil {
				return err
			}
			info, err := cl.StreamInfo(cmd.Context(), name)
			if err != nil {
				return streamError(name, err)
			}
			resp, err := cl.SetStreamPolicy(cmd.Context(), info.GetStream().GetId(), policy)
			if err != nil {
				return streamError(name, err)
			}
			if opts.json {
				return printJSON(cmd.OutOrStdout(), resp)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", name, policyString(resp.GetStream().GetPolicy()))
			return err
		},
	}
	cmd.Flags().BoolVar(&opts.json, "json", false, "print one JSON object")
	retention.addFlags(cmd.Flags())
	return cmd
}

// policyString shows a retention policy in one line.
func policyString(p *clogspb.StreamPolicy) string {
	var parts []string
	if p.GetMaxAgeSeconds() > 0 {
		parts = append(parts, "max-age "+(time.Duration(p.GetMaxAgeSeconds())*time.Second).String())
	}
	if p.GetMaxBytes() > 0 {
		parts = append(parts, "max-bytes "+daemon.ByteSize(p.GetMaxBytes()).String())
	}
	if p.GetEcData() > 0 {
		parts = append(parts, fmt.Sprintf("ec %d+%d after %v", p.GetEcData(), p.GetEcParity(), time.Duration(p.GetEcAfterSeconds())*time.Second))
	}
	if len(parts) == 0 {
		return "keep everything"
	}
	return strings.Join(parts, ", ")
}

// resolveAuto turns --ec auto into the widest coding the live nodes
// allow: 4+2 with six or more, 3+2 with five, 2+1 with three or four.
func (p *policyOptions) resolveAuto(ctx context.Context, cl *streamclient.Client, policy *clogspb.StreamPolicy) error {
	if policy.EcAfterSeconds != -1 {
		return nil
	}
	policy.EcAfterSeconds = int64(p.ecAfter / time.Second)
	nodes, err := cl.NodesInfo(ctx)
	if err != nil {
		return managerError(err)
	}
	live := 0
	for _, n := range nodes.GetNodes() {
		if n.GetAlive() {
			live++
		}
	}
	switch {
	case live >= 6:
		policy.EcData, policy.EcParity = 4, 2
	case live == 5:
		policy.EcData, policy.EcParity = 3, 2
	case live >= 3:
		policy.EcData, policy.EcParity = 2, 1
	default:
		return fmt.Errorf("--ec auto: %d live nodes; coding needs at least 3", live)
	}
	return nil
}
