package client

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreateTopicOptions are `trib topic create`'s settings. Partitions and
// ReplicationFactor of -1 ask for the broker's defaults (num.partitions,
// default.replication.factor).
type CreateTopicOptions struct {
	Partitions        int32
	ReplicationFactor int16
	Configs           []string // KEY=VALUE
	DryRun            bool     // validate only (CreateTopics ValidateOnly)
	// IfNotExists makes an existing topic no error (kafka-topics.sh
	// --if-not-exists); nothing is printed for it.
	IfNotExists bool
}

// CreateTopics creates topics, printing "Created topic NAME." per success.
// Every topic is attempted; the returned error lists the failures.
func CreateTopics(ctx context.Context, adm *kadm.Client, names []string, o CreateTopicOptions, w io.Writer) error {
	configs := map[string]*string{}
	for _, kv := range o.Configs {
		k, v, err := ParseKV("--config", kv)
		if err != nil {
			return err
		}
		configs[k] = &v
	}
	create := adm.CreateTopics
	if o.DryRun {
		create = adm.ValidateCreateTopics
	}
	resps, err := create(ctx, o.Partitions, o.ReplicationFactor, configs, names...)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		r, ok := resps[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %q: missing from the broker's response", name))
		case o.IfNotExists && errors.Is(r.Err, kerr.TopicAlreadyExists):
		case r.Err != nil:
			errs = append(errs, topicErr(name, r.Err, r.ErrMessage))
		case o.DryRun:
			fmt.Fprintf(w, "Topic %s is valid (%d partitions, replication factor %d); not created (--dry-run).\n", name, r.NumPartitions, r.ReplicationFactor)
		default:
			fmt.Fprintf(w, "Created topic %s.\n", name)
		}
	}
	return errors.Join(errs...)
}

// ListTopics prints a NAME/PARTITIONS/REPLICAS table of topics, sorted by
// name; internal topics only when internal is set.
func ListTopics(ctx context.Context, adm *kadm.Client, internal bool, w io.Writer) error {
	tds, err := listTopics(ctx, adm, internal)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPARTITIONS\tREPLICAS")
	for _, td := range tds.Sorted() {
		if td.Err != nil {
			fmt.Fprintf(tw, "%s\t-\t-\t(%v)\n", td.Topic, td.Err)
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\n", td.Topic, len(td.Partitions), td.Partitions.NumReplicas())
	}
	return tw.Flush()
}

func listTopics(ctx context.Context, adm *kadm.Client, internal bool) (kadm.TopicDetails, error) {
	if internal {
		return adm.ListTopicsWithInternal(ctx)
	}
	return adm.ListTopics(ctx)
}

// DescribeTopics prints topics in kafka-topics.sh --describe layout: one
// summary line (id, partition count, replication factor, topic config
// overrides) and one line per partition (leader, replicas, ISR). With
// allConfigs every effective config is listed with its source. No names
// means every non-internal topic. Naming a missing topic is an error; the
// metadata lookup never auto-creates topics.
func DescribeTopics(ctx context.Context, adm *kadm.Client, names []string, allConfigs bool, w io.Writer) error {
	tds, err := listTopics(ctx, adm, len(names) > 0)
	if err != nil {
		return err
	}
	var errs []error
	if len(names) == 0 {
		names = tds.Names()
	}
	var found []string
	for _, n := range names {
		if _, ok := tds[n]; !ok {
			errs = append(errs, fmt.Errorf("topic %q: UNKNOWN_TOPIC_OR_PARTITION: topic does not exist", n))
			continue
		}
		found = append(found, n)
	}
	var rcs kadm.ResourceConfigs
	if len(found) > 0 {
		if rcs, err = adm.DescribeTopicConfigs(ctx, found...); err != nil {
			return err
		}
	}
	var storage storageNotes
	for _, n := range found {
		td := tds[n]
		if td.Err != nil {
			errs = append(errs, topicErr(n, td.Err, ""))
			continue
		}
		var cfgs []kadm.Config
		rc, err := rcs.On(n, nil)
		if err == nil && rc.Err != nil {
			err = topicErr(n, rc.Err, rc.ErrMessage)
		}
		if err != nil {
			errs = append(errs, err)
		} else {
			cfgs = rc.Configs
			sort.Slice(cfgs, func(i, j int) bool { return cfgs[i].Key < cfgs[j].Key })
		}
		var overrides []string
		for _, c := range cfgs {
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
				overrides = append(overrides, c.Key+"="+configValue(c))
			}
		}
		fmt.Fprintf(w, "Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
			n, topicID(td.ID), len(td.Partitions), td.Partitions.NumReplicas(), strings.Join(overrides, ","))
		for _, p := range td.Partitions.Sorted() {
			// A leaderless partition is listed like the others, with
			// "Leader: none", as kafka-topics.sh does.
			if p.Err != nil && !errors.Is(p.Err, kerr.LeaderNotAvailable) {
				fmt.Fprintf(w, "\tTopic: %s\tPartition: %d\tError: %v\n", n, p.Partition, p.Err)
				continue
			}
			fmt.Fprintf(w, "\tTopic: %s\tPartition: %d\tLeader: %s\tReplicas: %s\tIsr: %s%s\n",
				n, p.Partition, leader(p.Leader), ids(p.Replicas), ids(p.ISR), offlineNote(p))
		}
		storage.print(ctx, adm, td, w) // logdirs.go
		if allConfigs {
			for _, c := range cfgs {
				fmt.Fprintf(w, "\tConfig: %s=%s\tSource: %s\n", c.Key, configValue(c), c.Source)
			}
		}
	}
	return errors.Join(errs...)
}

// DeleteTopics deletes topics, printing "Deleted topic NAME." per success.
//
// With ifExists a topic that does not exist is no error (kafka-topics.sh
// --if-exists); nothing is printed for it.
func DeleteTopics(ctx context.Context, adm *kadm.Client, names []string, ifExists bool, w io.Writer) error {
	resps, err := adm.DeleteTopics(ctx, names...)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range names {
		r, ok := resps[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %q: missing from the broker's response", name))
		case ifExists && errors.Is(r.Err, kerr.UnknownTopicOrPartition):
		case r.Err != nil:
			errs = append(errs, topicErr(name, r.Err, r.ErrMessage))
		default:
			fmt.Fprintf(w, "Deleted topic %s.\n", name)
		}
	}
	return errors.Join(errs...)
}

// AlterPartitions raises the partition count of a topic to n with
// CreatePartitions (kafka-topics.sh --alter --partitions N). DryRun
// validates only.
func AlterPartitions(ctx context.Context, adm *kadm.Client, name string, n int, dryRun bool, w io.Writer) error {
	update := adm.UpdatePartitions
	if dryRun {
		update = adm.ValidateUpdatePartitions
	}
	resps, err := update(ctx, n, name)
	if err != nil {
		return err
	}
	r, ok := resps[name]
	switch {
	case !ok:
		return fmt.Errorf("topic %q: missing from the broker's response", name)
	case r.Err != nil:
		return topicErr(name, r.Err, r.ErrMessage)
	case dryRun:
		fmt.Fprintf(w, "Topic %s can have %d partitions; not changed (--dry-run).\n", name, n)
	default:
		fmt.Fprintf(w, "Topic %s now has %d partitions.\n", name, n)
	}
	return nil
}

// AlterTopicConfig sets (KEY=VALUE) and deletes (KEY, back to the default)
// topic configs with IncrementalAlterConfigs; all changes apply together or
// not at all. DryRun validates only.
func AlterTopicConfig(ctx context.Context, adm *kadm.Client, name string, set, del []string, dryRun bool, w io.Writer) error {
	var alters []kadm.AlterConfig
	for _, kv := range set {
		k, v, err := ParseKV("--set", kv)
		if err != nil {
			return err
		}
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
	}
	for _, k := range del {
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	if len(alters) == 0 {
		return errors.New("nothing to alter: give --set KEY=VALUE and/or --delete KEY")
	}
	alter := adm.AlterTopicConfigs
	if dryRun {
		alter = adm.ValidateAlterTopicConfigs
	}
	resps, err := alter(ctx, alters, name)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range resps {
		if r.Err != nil {
			errs = append(errs, topicErr(r.Name, r.Err, r.ErrMessage))
		}
	}
	if len(resps) == 0 {
		errs = append(errs, fmt.Errorf("topic %q: no answer from the broker", name))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if dryRun {
		fmt.Fprintf(w, "Config changes for topic %s are valid; not applied (--dry-run).\n", name)
	} else {
		fmt.Fprintf(w, "Altered configs of topic %s.\n", name)
	}
	return nil
}

func topicErr(name string, err error, msg string) error {
	if msg != "" && !strings.Contains(err.Error(), msg) {
		return fmt.Errorf("topic %q: %w (%s)", name, err, msg)
	}
	return fmt.Errorf("topic %q: %w", name, err)
}

func configValue(c kadm.Config) string {
	if c.Sensitive {
		return "(sensitive)"
	}
	return c.MaybeValue()
}

// topicID prints a topic id the way Kafka's tools do (URL-safe base64, no
// padding).
func topicID(id kadm.TopicID) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func leader(id int32) string {
	if id < 0 {
		return "none"
	}
	return strconv.Itoa(int(id))
}

func ids(s []int32) string {
	parts := make([]string, len(s))
	for i, id := range s {
		parts[i] = strconv.Itoa(int(id))
	}
	return strings.Join(parts, ",")
}

// PartitionFilter selects partitions for `trib topic describe
// --under-replicated-partitions / --unavailable-partitions`.
type PartitionFilter struct {
	// UnderReplicated: fewer in-sync replicas than replicas.
	UnderReplicated bool
	// Unavailable: no leader, or a leader that is not a live broker.
	Unavailable bool
}

// DescribePartitions prints, as kafka-topics.sh --describe does with these
// filters, only the partition lines of names (every topic, internal ones
// included, if none) that match f: with both set, those matching either.
func DescribePartitions(ctx context.Context, adm *kadm.Client, names []string, f PartitionFilter, w io.Writer) error {
	md, err := adm.Metadata(ctx, names...)
	if err != nil {
		return err
	}
	live := map[int32]bool{}
	for _, b := range md.Brokers {
		live[b.NodeID] = true
	}
	var errs []error
	for _, td := range md.Topics.Sorted() {
		if td.Err != nil {
			errs = append(errs, topicErr(td.Topic, td.Err, ""))
			continue
		}
		for _, p := range td.Partitions.Sorted() {
			under := len(p.ISR) < len(p.Replicas)
			unavailable := p.Leader < 0 || !live[p.Leader]
			if !(f.UnderReplicated && under || f.Unavailable && unavailable) {
				continue
			}
			fmt.Fprintf(w, "\tTopic: %s\tPartition: %d\tLeader: %s\tReplicas: %s\tIsr: %s\n",
				td.Topic, p.Partition, leader(p.Leader), ids(p.Replicas), ids(p.ISR))
		}
	}
	return errors.Join(errs...)
}
