package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// This file is the logic of `trib group` (owned by the groups work, kept in
// this package so cmd/trib stays wiring only).

// ListGroups prints GROUP, STATE, PROTOCOL-TYPE and TYPE (classic, or
// consumer for KIP-848 groups) for every group, optionally only those in
// one of states.
func ListGroups(ctx context.Context, adm *kadm.Client, states []string, w io.Writer) error {
	gs, err := adm.ListGroups(ctx, states...)
	if err != nil {
		return err
	}
	consumer, err := adm.ListGroupsByType(ctx, []string{"consumer"}, states...)
	if err != nil {
		return err
	}
	share, err := adm.ListGroupsByType(ctx, []string{"share"}, states...)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL-TYPE\tTYPE")
	for _, g := range gs.Sorted() {
		typ := "classic"
		if _, ok := consumer[g.Group]; ok {
			typ = "consumer"
		}
		if _, ok := share[g.Group]; ok {
			typ = "share"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Group, g.State, dash(g.ProtocolType), typ)
	}
	return tw.Flush()
}

// DescribeGroups prints each group's state, protocol and members, then one
// line per partition with a committed offset or an owner: current
// (committed) offset, log end offset, lag, and the owning member's id, host
// and client id (as kafka-consumer-groups.sh --describe).
func DescribeGroups(ctx context.Context, adm *kadm.Client, groups []string, w io.Writer) error {
	lags, err := adm.Lag(ctx, groups...)
	if err != nil {
		return err
	}
	var errs []error
	for i, name := range groups {
		l, ok := lags[name]
		if i > 0 {
			fmt.Fprintln(w)
		}
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("group %q: missing from the response", name))
			continue
		case errors.Is(l.DescribeErr, kerr.GroupIDNotFound):
			// Not a classic group: maybe a consumer (KIP-848) group.
			if err := describeConsumerGroup(ctx, adm, name, w); err != nil {
				errs = append(errs, err)
			}
			continue
		case l.DescribeErr != nil:
			errs = append(errs, fmt.Errorf("group %q: %w", name, l.DescribeErr))
			continue
		case l.State == "Dead":
			errs = append(errs, fmt.Errorf("group %q does not exist", name))
			continue
		}
		proto := dash(l.Protocol)
		if l.ProtocolType != "" {
			proto += " (" + l.ProtocolType + ")"
		}
		fmt.Fprintf(w, "GROUP %s  STATE %s  PROTOCOL %s  MEMBERS %d\n", name, l.State, proto, len(l.Members))
		if l.FetchErr != nil {
			errs = append(errs, fmt.Errorf("group %q offsets: %w", name, l.FetchErr))
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tMEMBER-ID\tHOST\tCLIENT-ID")
		for _, ml := range l.Lag.Sorted() {
			cur, end, lag := "-", "-", "-"
			if ml.Commit.At >= 0 {
				cur = strconv.FormatInt(ml.Commit.At, 10)
			}
			if ml.End.Err == nil {
				end = strconv.FormatInt(ml.End.Offset, 10)
			}
			if ml.Err == nil && ml.Lag >= 0 {
				lag = strconv.FormatInt(ml.Lag, 10)
			}
			member, host, cid := "-", "-", "-"
			if ml.Member != nil {
				member, host, cid = ml.Member.MemberID, ml.Member.ClientHost, ml.Member.ClientID
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ml.Topic, ml.Partition, cur, end, lag, member, host, cid)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return errors.Join(errs...)
}

// describeConsumerGroup prints a KIP-848 group as DescribeGroups does a
// classic one; PROTOCOL is the server-side assignor.
func describeConsumerGroup(ctx context.Context, adm *kadm.Client, name string, w io.Writer) error {
	ds, err := adm.DescribeConsumerGroups(ctx, name)
	if err != nil {
		return fmt.Errorf("group %q: %w", name, err)
	}
	d, ok := ds[name]
	switch {
	case !ok:
		return fmt.Errorf("group %q: missing from the response", name)
	case errors.Is(d.Err, kerr.GroupIDNotFound):
		// Not a consumer group either: maybe a share group (KIP-932).
		return describeShareGroup(ctx, adm, name, w)
	case d.Err != nil:
		return fmt.Errorf("group %q: %w", name, d.Err)
	}
	fmt.Fprintf(w, "GROUP %s  STATE %s  PROTOCOL %s (consumer)  MEMBERS %d  EPOCH %d\n", name, d.State, dash(d.AssignorName), len(d.Members), d.Epoch)
	committed, err := adm.FetchOffsets(ctx, name)
	if err != nil {
		return fmt.Errorf("group %q offsets: %w", name, err)
	}
	owner := map[tp]*kadm.ConsumerGroupMember{}
	rows := map[tp]bool{}
	topics := map[string]bool{}
	for i := range d.Members {
		m := &d.Members[i]
		for t, ps := range m.Assignment {
			topics[t] = true
			for p := range ps {
				owner[tp{t, p}] = m
				rows[tp{t, p}] = true
			}
		}
	}
	committed.Each(func(o kadm.OffsetResponse) {
		topics[o.Topic] = true
		rows[tp{o.Topic, o.Partition}] = true
	})
	ends, err := endOffsets(ctx, adm, name, topics)
	if err != nil {
		return err
	}
	keys := sortedPartitions(rows)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tMEMBER-ID\tHOST\tCLIENT-ID")
	for _, k := range keys {
		cur, end, lag := "-", "-", "-"
		c, hasCommit := committed.Lookup(k.t, k.p)
		if hasCommit && c.Err == nil && c.At >= 0 {
			cur = strconv.FormatInt(c.At, 10)
		}
		if e, ok := ends.Lookup(k.t, k.p); ok && e.Err == nil {
			end = strconv.FormatInt(e.Offset, 10)
			if cur != "-" {
				lag = strconv.FormatInt(max(e.Offset-c.At, 0), 10)
			}
		}
		member, host, cid := "-", "-", "-"
		if m := owner[k]; m != nil {
			member, host, cid = m.MemberID, m.ClientHost, m.ClientID
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", k.t, k.p, cur, end, lag, member, host, cid)
	}
	return tw.Flush()
}

// describeShareGroup prints a share group (KIP-932): state, members and
// their assignments, then per share-partition the start offset (records
// below it are done), the log end offset and the lag (records not yet
// acknowledged or archived), and the members assigned to the partition.
func describeShareGroup(ctx context.Context, adm *kadm.Client, name string, w io.Writer) error {
	ds, err := adm.DescribeShareGroups(ctx, name)
	if err != nil {
		return fmt.Errorf("group %q: %w", name, err)
	}
	d, ok := ds[name]
	switch {
	case !ok:
		return fmt.Errorf("group %q: missing from the response", name)
	case errors.Is(d.Err, kerr.GroupIDNotFound):
		return fmt.Errorf("group %q does not exist", name)
	case d.Err != nil:
		return fmt.Errorf("group %q: %w", name, d.Err)
	}
	fmt.Fprintf(w, "GROUP %s  STATE %s  TYPE share  ASSIGNOR %s  MEMBERS %d  EPOCH %d\n", name, d.GroupState, dash(d.Assignor), len(d.Members), d.GroupEpoch)
	owners := map[tp][]string{}
	topics := map[string]bool{}
	for _, m := range d.Members {
		for t, ps := range m.Assignment {
			topics[t] = true
			for p := range ps {
				owners[tp{t, p}] = append(owners[tp{t, p}], m.MemberID)
			}
		}
	}
	offs, err := adm.DescribeShareGroupOffsets(ctx, name)
	if err != nil {
		return fmt.Errorf("group %q offsets: %w", name, err)
	}
	rows := map[tp]kadm.ShareOffset{}
	for t, ps := range offs[name].Offsets {
		topics[t] = true
		for p, o := range ps {
			rows[tp{t, p}] = o
		}
	}
	for k := range owners {
		if _, ok := rows[k]; !ok {
			rows[k] = kadm.ShareOffset{Topic: k.t, Partition: k.p, StartOffset: -1, Lag: -1}
		}
	}
	ends, err := endOffsets(ctx, adm, name, topics)
	if err != nil {
		return err
	}
	keys := sortedPartitions(rows)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tSTART-OFFSET\tLOG-END-OFFSET\tLAG\tMEMBERS")
	for _, k := range keys {
		o := rows[k]
		start, end, lag := "-", "-", "-"
		if o.Err == nil && o.StartOffset >= 0 {
			start = strconv.FormatInt(o.StartOffset, 10)
		}
		if o.Err == nil && o.Lag >= 0 {
			lag = strconv.FormatInt(o.Lag, 10)
		}
		if e, ok := ends.Lookup(k.t, k.p); ok && e.Err == nil {
			end = strconv.FormatInt(e.Offset, 10)
		}
		ms := "-"
		if len(owners[k]) > 0 {
			sort.Strings(owners[k])
			ms = strings.Join(owners[k], ",")
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", k.t, k.p, start, end, lag, ms)
	}
	return tw.Flush()
}

// DeleteGroups deletes groups (they must be empty), printing one line per
// deleted group; the error lists the failures.
func DeleteGroups(ctx context.Context, adm *kadm.Client, groups []string, w io.Writer) error {
	rs, err := adm.DeleteGroups(ctx, groups...)
	if err != nil {
		return err
	}
	var errs []error
	for _, g := range groups {
		r, ok := rs[g]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("group %q: missing from the response", g))
		case r.Err != nil:
			errs = append(errs, fmt.Errorf("group %q: %w", g, r.Err))
		default:
			fmt.Fprintf(w, "Deleted group %s.\n", g)
		}
	}
	return errors.Join(errs...)
}

// SeekOptions are `trib group seek`'s settings.
type SeekOptions struct {
	Topic string
	// To is "earliest", "latest", an offset N, or a timestamp: RFC 3339
	// (2024-05-01T12:00:00Z) or @MS (Unix milliseconds). A timestamp seeks
	// to the first record at or after it, or to the end if there is none.
	To string
	// Partitions restricts the seek; empty means every partition.
	Partitions []int32
	DryRun     bool
	// Shift moves each partition's committed offset by ShiftBy (negative
	// is back), kept within the log start offset and the end, as
	// kafka-consumer-groups.sh --shift-by; To is ignored. A partition the
	// group has no committed offset for is refused.
	Shift   bool
	ShiftBy int64
}

// SeekGroup commits new offsets for a group that has no members (as
// kafka-consumer-groups.sh --reset-offsets), printing old and new offsets.
func SeekGroup(ctx context.Context, adm *kadm.Client, group string, o SeekOptions, w io.Writer) error {
	if o.Topic == "" {
		return errors.New("--topic is required")
	}
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return err
	}
	if d, ok := ds[group]; ok && errors.Is(d.Err, kerr.GroupIDNotFound) {
		// Not a classic group: a consumer (KIP-848) group must be empty.
		cds, err := adm.DescribeConsumerGroups(ctx, group)
		if err != nil {
			return err
		}
		if cd, ok := cds[group]; ok && cd.Err == nil && len(cd.Members) > 0 {
			return fmt.Errorf("group %q has %d active members (state %s); stop its consumers before seeking", group, len(cd.Members), cd.State)
		}
	} else if ok {
		if d.Err != nil {
			return fmt.Errorf("group %q: %w", group, d.Err)
		}
		if len(d.Members) > 0 {
			return fmt.Errorf("group %q has %d active members (state %s); stop its consumers before seeking", group, len(d.Members), d.State)
		}
	}
	var listed kadm.ListedOffsets
	to := strings.ToLower(strings.TrimSpace(o.To))
	var abs int64 = -1
	switch {
	case o.Shift:
		listed, err = adm.ListEndOffsets(ctx, o.Topic)
	case to == "earliest" || to == "beginning" || to == "start":
		listed, err = adm.ListStartOffsets(ctx, o.Topic)
	case to == "latest" || to == "end":
		listed, err = adm.ListEndOffsets(ctx, o.Topic)
	default:
		ms, isTs, perr := parseSeekTime(o.To)
		if perr != nil {
			return perr
		}
		if isTs {
			listed, err = adm.ListOffsetsAfterMilli(ctx, ms, o.Topic)
		} else {
			abs = ms
			listed, err = adm.ListEndOffsets(ctx, o.Topic)
		}
	}
	if err != nil {
		return err
	}
	if err := listed.Error(); err != nil {
		return err
	}
	ends, err := adm.ListEndOffsets(ctx, o.Topic)
	if err != nil {
		return err
	}
	starts, err := adm.ListStartOffsets(ctx, o.Topic)
	if err != nil {
		return err
	}
	only := map[int32]bool{}
	for _, p := range o.Partitions {
		only[p] = true
	}
	cur, err := adm.FetchOffsetsForTopics(ctx, group, o.Topic)
	if err != nil {
		return err
	}
	var parts []int32
	for p := range listed[o.Topic] {
		if len(only) == 0 || only[p] {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return fmt.Errorf("topic %q has no such partitions", o.Topic)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	commit := kadm.Offsets{}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT-OFFSET\tNEW-OFFSET")
	for _, p := range parts {
		lo := listed[o.Topic][p]
		target := lo.Offset
		end, _ := ends.Lookup(o.Topic, p)
		start, _ := starts.Lookup(o.Topic, p)
		c, committed := cur.Lookup(o.Topic, p)
		committed = committed && c.Err == nil && c.At >= 0
		switch {
		case o.Shift:
			if !committed {
				return fmt.Errorf("cannot shift partition %d of %q: group %q has no committed offset for it", p, o.Topic, group)
			}
			target = c.At + o.ShiftBy
			if o.ShiftBy > 0 && target < c.At { // overflow
				target = end.Offset
			}
			target = min(max(target, start.Offset), end.Offset)
		case abs >= 0:
			target = min(max(abs, start.Offset), end.Offset)
		case target < 0:
			target = end.Offset
		}
		old := "-"
		if committed {
			old = strconv.FormatInt(c.At, 10)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", o.Topic, p, old, target)
		commit.Add(kadm.Offset{Topic: o.Topic, Partition: p, At: target, LeaderEpoch: -1})
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if o.DryRun {
		fmt.Fprintln(w, "Dry run: nothing committed.")
		return nil
	}
	rs, err := adm.CommitOffsets(ctx, group, commit)
	if err != nil {
		return err
	}
	if err := rs.Error(); err != nil {
		return fmt.Errorf("committing offsets for group %q: %w", group, err)
	}
	fmt.Fprintf(w, "Committed new offsets for group %s.\n", group)
	return nil
}

// parseSeekTime parses an offset N (isTs false) or a timestamp (@MS or RFC
// 3339) as Unix milliseconds.
func parseSeekTime(s string) (v int64, isTs bool, err error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "@") {
		ms, err := strconv.ParseInt(s[1:], 10, 64)
		if err != nil || ms < 0 {
			return 0, false, fmt.Errorf("--to %q: want @UNIX-MILLISECONDS", s)
		}
		return ms, true, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return 0, false, fmt.Errorf("--to %q: offsets are not negative", s)
		}
		return n, false, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixMilli(), true, nil
	}
	return 0, false, fmt.Errorf("--to %q: want earliest, latest, an offset, @UNIX-MS or an RFC 3339 time", s)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// tp is a topic partition in a group's table.
type tp struct {
	t string
	p int32
}

// endOffsets lists the log end offsets of a group's topics.
func endOffsets(ctx context.Context, adm *kadm.Client, group string, topics map[string]bool) (kadm.ListedOffsets, error) {
	if len(topics) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("group %q end offsets: %w", group, err)
	}
	return ends, nil
}

// sortedPartitions are rows' partitions by topic, then partition.
func sortedPartitions[V any](rows map[tp]V) []tp {
	keys := make([]tp, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].t != keys[j].t {
			return keys[i].t < keys[j].t
		}
		return keys[i].p < keys[j].p
	})
	return keys
}
