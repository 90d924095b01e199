package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/tributary/tributary/internal/controller"
)

// ClusterInfo prints the cluster id, the active controller, every
// registered broker (address, rack, fenced) from DescribeCluster, and the
// metadata quorum (leader, epoch, voters, observers) from DescribeQuorum
// when the brokers serve it.
func ClusterInfo(ctx context.Context, cl *kgo.Client, w io.Writer) error {
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeFencedBrokers = true
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("describe cluster: %w", err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("describe cluster: %w", err)
	}
	fmt.Fprintf(w, "Cluster ID:  %s\nController:  %s\n\n", resp.ClusterID, leader(resp.ControllerID))
	sort.Slice(resp.Brokers, func(i, j int) bool { return resp.Brokers[i].NodeID < resp.Brokers[j].NodeID })
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "BROKER\tADDRESS\tRACK\tSTATE\tCONTROLLER")
	for _, b := range resp.Brokers {
		rack, state, ctl := "-", "live", ""
		if b.Rack != nil && *b.Rack != "" {
			rack = *b.Rack
		}
		if b.IsFenced {
			state = "fenced"
		}
		if b.NodeID == resp.ControllerID {
			ctl = "active"
		}
		fmt.Fprintf(tw, "%d\t%s:%d\t%s\t%s\t%s\n", b.NodeID, b.Host, b.Port, rack, state, ctl)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printLogDirs(ctx, kadm.NewClient(cl), w) // logdirs.go
	q, err := describeQuorum(ctx, cl)
	if err != nil {
		fmt.Fprintf(w, "\nQuorum: not available (%v)\n", err)
		return nil
	}
	fmt.Fprintf(w, "\nQuorum leader: %s\tEpoch: %d\tHigh watermark: %d\n", leader(q.LeaderID), q.LeaderEpoch, q.HighWatermark)
	var voters, observers []string
	for _, v := range q.CurrentVoters {
		voters = append(voters, fmt.Sprint(v.ReplicaID))
	}
	for _, o := range q.Observers {
		observers = append(observers, fmt.Sprint(o.ReplicaID))
	}
	fmt.Fprintf(w, "Voters:      %s\nObservers:   %s\n", orDash(strings.Join(voters, ",")), orDash(strings.Join(observers, ",")))
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// describeQuorum asks for the metadata quorum's state (__cluster_metadata
// partition 0).
func describeQuorum(ctx context.Context, cl *kgo.Client) (*kmsg.DescribeQuorumResponseTopicPartition, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rp := kmsg.NewDescribeQuorumRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, errors.New("malformed DescribeQuorum response")
	}
	p := &resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, err
	}
	return p, nil
}

// The reassignment planner is a controller policy (internal/controller):
// the CLI plans with the code the controller's tests cover.
type (
	// Assignment is one partition's replica list; the first replica is
	// the preferred leader.
	Assignment = controller.Assignment
	// Move is a planned reassignment.
	Move = controller.Move
	// PlanOptions steer PlanReassignment.
	PlanOptions = controller.PlanOptions
)

// PlanReassignment is controller.PlanReassignment.
func PlanReassignment(current []Assignment, o PlanOptions) ([]Move, error) {
	return controller.PlanReassignment(current, o)
}

// ClusterOptions are `trib cluster rebalance` and `drain`'s settings.
type ClusterOptions struct {
	DryRun bool
	// Timeout bounds the wait for the reassignments to complete.
	Timeout time.Duration
}

// Rebalance evens out replicas and preferred leaders over the live
// brokers: it prints the plan and, unless DryRun, applies it with
// AlterPartitionReassignments, waits for the moves to complete and elects
// the preferred leaders.
func Rebalance(ctx context.Context, adm *kadm.Client, o ClusterOptions, w io.Writer) error {
	return reassignCluster(ctx, adm, -1, o, w)
}

// Drain moves every replica off broker id (to the least loaded live
// brokers), waits until the moves complete, and elects preferred leaders.
func Drain(ctx context.Context, adm *kadm.Client, id int32, o ClusterOptions, w io.Writer) error {
	return reassignCluster(ctx, adm, id, o, w)
}

func reassignCluster(ctx context.Context, adm *kadm.Client, drain int32, o ClusterOptions, w io.Writer) error {
	md, err := adm.Metadata(ctx)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	po := PlanOptions{Balance: drain < 0, Racks: map[int32]string{}}
	known := false
	for _, b := range md.Brokers {
		if b.NodeID == drain {
			known = true
			continue
		}
		po.Brokers = append(po.Brokers, b.NodeID)
		if b.Rack != nil {
			po.Racks[b.NodeID] = *b.Rack
		}
	}
	var current []Assignment
	for _, td := range md.Topics.Sorted() {
		if td.Err != nil {
			return fmt.Errorf("topic %s: %w", td.Topic, td.Err)
		}
		for _, p := range td.Partitions.Sorted() {
			current = append(current, Assignment{Topic: td.Topic, Partition: p.Partition, Replicas: p.Replicas})
		}
	}
	if drain >= 0 && !known {
		held := 0
		for _, a := range current {
			if slices.Contains(a.Replicas, drain) {
				held++
			}
		}
		if held == 0 {
			return fmt.Errorf("broker %d is not a live broker and holds no replica", drain)
		}
	}
	moves, err := PlanReassignment(current, po)
	if err != nil {
		return err
	}
	printLoad(w, current, moves, po.Brokers, drain)
	if len(moves) == 0 {
		fmt.Fprintln(w, "Nothing to move: the replicas are already in place.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "\nTOPIC\tPARTITION\tREPLICAS\tNEW REPLICAS\n")
	for _, m := range moves {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", m.Topic, m.Partition, ids(m.From), ids(m.To))
	}
	tw.Flush()
	if o.DryRun {
		fmt.Fprintf(w, "Dry run: %d partition(s) would move; nothing changed.\n", len(moves))
		return nil
	}
	var req kadm.AlterPartitionAssignmentsReq
	moving := kadm.TopicsSet{}
	for _, m := range moves {
		req.Assign(m.Topic, m.Partition, m.To)
		moving.Add(m.Topic, m.Partition)
	}
	resps, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return fmt.Errorf("alter partition reassignments: %w", err)
	}
	var errs []error
	for _, m := range moves {
		r := resps[m.Topic][m.Partition]
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s-%d: %w %s", m.Topic, m.Partition, r.Err, r.ErrMessage))
			moving.Delete(m.Topic, m.Partition)
		}
	}
	fmt.Fprintf(w, "Reassignment of %d partition(s) started.\n", len(moves)-len(errs))
	if err := waitReassigned(ctx, adm, moving, o.Timeout, w); err != nil {
		return errors.Join(append(errs, err)...)
	}
	elected, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, moving)
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("elect preferred leaders: %w", err))...)
	}
	n := 0
	for _, ps := range elected {
		for _, r := range ps {
			switch {
			case r.Err == nil:
				n++
			case errors.Is(r.Err, kerr.ElectionNotNeeded):
			default:
				fmt.Fprintf(w, "Preferred leader of %s-%d not elected: %v\n", r.Topic, r.Partition, r.Err)
			}
		}
	}
	fmt.Fprintf(w, "Done: %d partition(s) moved, %d preferred leader(s) elected.\n", len(moves)-len(errs), n)
	return errors.Join(errs...)
}

// waitReassigned polls ListPartitionReassignments until none of set is
// moving.
func waitReassigned(ctx context.Context, adm *kadm.Client, set kadm.TopicsSet, timeout time.Duration, w io.Writer) error {
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := -1
	for {
		rs, err := adm.ListPartitionReassignments(ctx, set)
		if err == nil {
			n := 0
			rs.Each(func(kadm.ListPartitionReassignmentsResponse) { n++ })
			if n == 0 {
				return nil
			}
			if n != last {
				fmt.Fprintf(w, "Waiting for %d partition(s) to finish moving...\n", n)
				last = n
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("reassignments not complete: %w", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// printLoad prints replicas and preferred leaders per broker before and
// after the moves.
func printLoad(w io.Writer, current []Assignment, moves []Move, brokers []int32, drain int32) {
	after := map[string][]int32{}
	for _, m := range moves {
		after[fmt.Sprintf("%s\x00%d", m.Topic, m.Partition)] = m.To
	}
	type load struct{ r0, r1, l0, l1 int }
	loads := map[int32]*load{}
	get := func(b int32) *load {
		if loads[b] == nil {
			loads[b] = &load{}
		}
		return loads[b]
	}
	for _, b := range brokers {
		get(b)
	}
	if drain >= 0 {
		get(drain)
	}
	for _, a := range current {
		to, ok := after[fmt.Sprintf("%s\x00%d", a.Topic, a.Partition)]
		if !ok {
			to = a.Replicas
		}
		for i, r := range a.Replicas {
			get(r).r0++
			if i == 0 {
				get(r).l0++
			}
		}
		for i, r := range to {
			get(r).r1++
			if i == 0 {
				get(r).l1++
			}
		}
	}
	order := make([]int32, 0, len(loads))
	for b := range loads {
		order = append(order, b)
	}
	slices.Sort(order)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "BROKER\tREPLICAS\tPREFERRED LEADERS")
	for _, b := range order {
		l := loads[b]
		fmt.Fprintf(tw, "%d\t%d -> %d\t%d -> %d\n", b, l.r0, l.r1, l.l0, l.l1)
	}
	tw.Flush()
}
