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
