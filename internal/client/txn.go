package client

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// ListTransactions prints every transactional id the cluster's
// coordinators know (ListTransactions to every broker), optionally only
// those in states, as kafka-transactions.sh list.
func ListTransactions(ctx context.Context, adm *kadm.Client, states []string, w io.Writer) error {
	ls, err := adm.ListTransactions(ctx, nil, states)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TRANSACTIONAL-ID\tCOORDINATOR\tPRODUCER-ID\tSTATE")
	for _, l := range ls.Sorted() {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", l.TxnID, l.Coordinator, l.ProducerID, l.State)
	}
	return tw.Flush()
}

// DescribeTransactions prints each transactional id's coordinator,
// producer id and epoch, state, timeout, start time and partitions, as
// kafka-transactions.sh describe.
func DescribeTransactions(ctx context.Context, adm *kadm.Client, ids []string, w io.Writer) error {
	ds, err := adm.DescribeTransactions(ctx, ids...)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TRANSACTIONAL-ID\tCOORDINATOR\tPRODUCER-ID\tEPOCH\tSTATE\tTIMEOUT-MS\tSTARTED\tPARTITIONS")
	var errs []string
	for _, d := range ds.Sorted() {
		if d.Err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", d.TxnID, d.Err))
			continue
		}
		started := "-"
		if d.StartTimestamp >= 0 {
			started = time.UnixMilli(d.StartTimestamp).UTC().Format(time.RFC3339)
		}
		var parts []string
		for _, tp := range d.Topics.Sorted() {
			for _, p := range tp.Partitions {
				parts = append(parts, fmt.Sprintf("%s-%d", tp.Topic, p))
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\t%s\t%s\n", d.TxnID, d.Coordinator, d.ProducerID, d.ProducerEpoch, d.State, d.TimeoutMillis, started, dash(strings.Join(parts, ",")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// producersSet is the partitions to describe: every partition of topics
// (all topics when none), or only partitions when given.
func producersSet(topics []string, partitions []int32) kadm.TopicsSet {
	s := kadm.TopicsSet{}
	for _, t := range topics {
		s.Add(t, partitions...)
	}
	return s
}

// DescribeProducers prints the producers the partition leaders track for
// topics (every topic when none; only partitions when given), as
// kafka-transactions.sh describe-producers: producer id and epoch, last
// sequence and timestamp, the coordinator epoch of its last marker and
// the first offset of its open transaction.
func DescribeProducers(ctx context.Context, adm *kadm.Client, topics []string, partitions []int32, w io.Writer) error {
	ds, err := adm.DescribeProducers(ctx, producersSet(topics, partitions))
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tLEADER\tPRODUCER-ID\tEPOCH\tLAST-SEQUENCE\tLAST-TIMESTAMP\tCOORDINATOR-EPOCH\tTXN-START-OFFSET")
	var errs []string
	for _, p := range ds.SortedPartitions() {
		if p.Err != nil {
			errs = append(errs, fmt.Sprintf("%s-%d: %v", p.Topic, p.Partition, p.Err))
			continue
		}
		for _, d := range p.ActiveProducers.Sorted() {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%s\n", d.Topic, d.Partition, p.Leader, d.ProducerID, d.ProducerEpoch, d.LastSequence,
				msTime(d.LastTimestamp), d.CoordinatorEpoch, offsetOrNone(d.CurrentTxnStartOffset))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func msTime(ms int64) string {
	if ms < 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339)
}

func offsetOrNone(o int64) string {
	if o < 0 {
		return "-"
	}
	return fmt.Sprint(o)
}

// HangingTransaction is an open transaction in a partition that no
// transaction coordinator will end.
type HangingTransaction struct {
	Topic            string
	Partition        int32
	ProducerID       int64
	ProducerEpoch    int16
	CoordinatorEpoch int32
	StartOffset      int64
	LastTimestamp    int64
	// Why: no transactional id holds the producer id, or its
	// transaction is not open or does not contain the partition.
	Why string
}

// FindHanging finds hanging transactions as kafka-transactions.sh
// find-hanging does: a partition leader reports an open transaction of a
// producer (DescribeProducers) whose last write is older than maxTimeout
// (transaction.max.timeout.ms: any transaction a coordinator knows has
// been aborted by then), and the coordinators (ListTransactions by
// producer id, DescribeTransactions) have no open transaction of that
// producer with the partition in it. topics limits the search (all
// topics when empty).
func FindHanging(ctx context.Context, adm *kadm.Client, topics []string, maxTimeout time.Duration, now time.Time) ([]HangingTransaction, error) {
	ds, err := adm.DescribeProducers(ctx, producersSet(topics, nil))
	if err != nil {
		return nil, err
	}
	var candidates []HangingTransaction
	var pids []int64
	for _, p := range ds.SortedPartitions() {
		if p.Err != nil {
			return nil, fmt.Errorf("%s-%d: %w", p.Topic, p.Partition, p.Err)
		}
		for _, d := range p.ActiveProducers.Sorted() {
			if d.CurrentTxnStartOffset < 0 || now.Sub(time.UnixMilli(d.LastTimestamp)) <= maxTimeout {
				continue
			}
			candidates = append(candidates, HangingTransaction{Topic: d.Topic, Partition: d.Partition, ProducerID: d.ProducerID,
				ProducerEpoch: d.ProducerEpoch, CoordinatorEpoch: d.CoordinatorEpoch, StartOffset: d.CurrentTxnStartOffset, LastTimestamp: d.LastTimestamp})
			pids = append(pids, d.ProducerID)
		}
	}
	if len(candidates) == 0 {
		return nil, nil
	}
	ls, err := adm.ListTransactions(ctx, pids, nil)
	if err != nil {
		return nil, err
	}
	byPID := map[int64]string{}
	var ids []string
	for _, l := range ls.Sorted() {
		byPID[l.ProducerID] = l.TxnID
		ids = append(ids, l.TxnID)
	}
	described := kadm.DescribedTransactions{}
	if len(ids) > 0 {
		if described, err = adm.DescribeTransactions(ctx, ids...); err != nil {
			return nil, err
		}
	}
	var out []HangingTransaction
	for _, c := range candidates {
		id, ok := byPID[c.ProducerID]
		if !ok {
			c.Why = "no transactional id holds the producer id"
			out = append(out, c)
			continue
		}
		d, ok := described[id]
		switch {
		case !ok || d.Err != nil:
			c.Why = fmt.Sprintf("transactional id %s could not be described", id)
		case d.State != "Ongoing":
			c.Why = fmt.Sprintf("transactional id %s has no open transaction (%s)", id, d.State)
		default:
			if _, in := d.Topics[c.Topic][c.Partition]; in {
				continue // a long transaction, not a hanging one
			}
			c.Why = fmt.Sprintf("the open transaction of %s does not contain the partition", id)
		}
		out = append(out, c)
	}
	return out, nil
}

// PrintHanging prints FindHanging's result.
func PrintHanging(hs []HangingTransaction, now time.Time, w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tPRODUCER-ID\tEPOCH\tCOORDINATOR-EPOCH\tSTART-OFFSET\tLAST-TIMESTAMP\tDURATION\tWHY")
	for _, h := range hs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", h.Topic, h.Partition, h.ProducerID, h.ProducerEpoch, h.CoordinatorEpoch, h.StartOffset,
			msTime(h.LastTimestamp), now.Sub(time.UnixMilli(h.LastTimestamp)).Round(time.Second), h.Why)
	}
	return tw.Flush()
}

// AbortTransaction aborts the open transaction that starts at startOffset
// in topic's partition as kafka-transactions.sh abort does (KIP-664): the
// partition leader names its producer (DescribeProducers), and an ABORT
// marker with that producer's id and epoch and the coordinator epoch of
// its last marker is written there directly (WriteTxnMarkers). It is for
// hanging transactions: a transaction its coordinator still knows is
// aborted in this partition only.
func AbortTransaction(ctx context.Context, adm *kadm.Client, topic string, partition int32, startOffset int64) (HangingTransaction, error) {
	ds, err := adm.DescribeProducers(ctx, producersSet([]string{topic}, []int32{partition}))
	if err != nil {
		return HangingTransaction{}, err
	}
	p, ok := ds[topic].Partitions[partition]
	if !ok {
		return HangingTransaction{}, fmt.Errorf("%s-%d: not described", topic, partition)
	}
	if p.Err != nil {
		return HangingTransaction{}, fmt.Errorf("%s-%d: %w", topic, partition, p.Err)
	}
	for _, d := range p.ActiveProducers.Sorted() {
		if d.CurrentTxnStartOffset != startOffset {
			continue
		}
		h := HangingTransaction{Topic: topic, Partition: partition, ProducerID: d.ProducerID, ProducerEpoch: d.ProducerEpoch,
			CoordinatorEpoch: d.CoordinatorEpoch, StartOffset: startOffset, LastTimestamp: d.LastTimestamp}
		rs, err := adm.WriteTxnMarkers(ctx, kadm.TxnMarkers{ProducerID: d.ProducerID, ProducerEpoch: d.ProducerEpoch,
			CoordinatorEpoch: max(d.CoordinatorEpoch, 0), Topics: kadm.TopicsSet{topic: {partition: {}}}})
		if err != nil {
			return h, err
		}
		var perr error
		rs.EachPartition(func(r kadm.TxnMarkersPartitionResponse) {
			if r.Err != nil {
				perr = fmt.Errorf("%s-%d: %w", r.Topic, r.Partition, r.Err)
			}
		})
		return h, perr
	}
	return HangingTransaction{}, fmt.Errorf("%s-%d: no open transaction starts at offset %d", topic, partition, startOffset)
}
