package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/tributary/tributary/internal/client"
)

func init() {
	var cf client.Flags
	txn := &cobra.Command{
		Use:     "txn",
		Aliases: []string{"transactions"},
		Short:   "List and describe transactional ids (like kafka-transactions.sh)",
	}
	cf.Register(txn.PersistentFlags())

	var states []string
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List transactional ids: coordinator, producer id, state",
		Long: "List every transactional id the brokers coordinate (ListTransactions to each\n" +
			"broker) with its coordinator, producer id and transaction state.",
		Example: "  trib txn list\n  trib txn list --state Ongoing,PrepareCommit --bootstrap-server kafka:9092",
		Args:    cobra.NoArgs,
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			return client.ListTransactions(ctx, adm, states, c.OutOrStdout())
		}),
	}
	list.Flags().StringSliceVar(&states, "state", nil, "only ids in these states (Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort)")

	var describeNames *nameArgs
	describe := &cobra.Command{
		Use:   "describe TRANSACTIONAL-ID [TRANSACTIONAL-ID...]",
		Short: "Describe transactional ids: producer id and epoch, state, timeout, start, partitions",
		Long: "Describe transactional ids (DescribeTransactions to each id's coordinator): the\n" +
			"producer id and epoch, the state, the transaction timeout, when the open\n" +
			"transaction started and the partitions in it.",
		Example: "  trib txn describe my-app-0\n  trib txn describe --transactional-id my-app-0 --bootstrap-server kafka:9092",
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			return client.DescribeTransactions(ctx, adm, describeNames.names(args), c.OutOrStdout())
		}),
	}
	describeNames = addNameFlag(describe, "transactional-id", "t", "transactional id", 1, -1)

	var hangTopics []string
	var maxTimeout time.Duration
	findHanging := &cobra.Command{
		Use:   "find-hanging",
		Short: "Find hanging transactions: open in a partition, unknown to every coordinator",
		Long: "Find hanging transactions as kafka-transactions.sh find-hanging does: a partition\n" +
			"leader reports an open transaction (DescribeProducers) whose last write is older\n" +
			"than --max-transaction-timeout (the cluster's transaction.max.timeout.ms: a\n" +
			"transaction a coordinator knows is aborted by then), and no coordinator has an\n" +
			"open transaction of that producer with the partition in it. Such a transaction\n" +
			"holds the partition's last stable offset back (read_committed consumers stop\n" +
			"there) until it is aborted with 'trib txn abort'. Exits 0 either way; prints\n" +
			"nothing but the header when none hangs.",
		Example: "  trib txn find-hanging\n  trib txn find-hanging --topic orders --max-transaction-timeout 5m",
		Args:    cobra.NoArgs,
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			now := time.Now()
			hs, err := client.FindHanging(ctx, adm, hangTopics, maxTimeout, now)
			if err != nil {
				return err
			}
			return client.PrintHanging(hs, now, c.OutOrStdout())
		}),
	}
	findHanging.Flags().StringSliceVar(&hangTopics, "topic", nil, "only these topics (default: every topic)")
	findHanging.Flags().DurationVar(&maxTimeout, "max-transaction-timeout", 15*time.Minute, "the cluster's transaction.max.timeout.ms")

	var abortTopic string
	var abortPartition int32
	var abortOffset int64
	abort := &cobra.Command{
		Use:   "abort",
		Short: "Abort a hanging transaction in one partition (by its start offset)",
		Long: "Abort the open transaction that starts at --start-offset in a partition, as\n" +
			"kafka-transactions.sh abort does (KIP-664): the partition leader names its\n" +
			"producer (DescribeProducers) and an ABORT marker with that producer's id and\n" +
			"epoch is written to the partition directly (WriteTxnMarkers). Use it for\n" +
			"hanging transactions ('trib txn find-hanging'): a transaction its coordinator\n" +
			"still knows is aborted in this partition only. Needs CLUSTER_ACTION with the\n" +
			"authorizer on.",
		Example: "  trib txn abort --topic orders --partition 3 --start-offset 1200",
		Args:    cobra.NoArgs,
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			h, err := client.AbortTransaction(ctx, adm, abortTopic, abortPartition, abortOffset)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "aborted the transaction of producer %d (epoch %d) starting at %s-%d offset %d\n",
				h.ProducerID, h.ProducerEpoch, h.Topic, h.Partition, h.StartOffset)
			return nil
		}),
	}
	abort.Flags().StringVar(&abortTopic, "topic", "", "the partition's topic")
	abort.Flags().Int32Var(&abortPartition, "partition", -1, "the partition")
	abort.Flags().Int64Var(&abortOffset, "start-offset", -1, "the transaction's first offset in the partition (find-hanging's START-OFFSET)")
	for _, f := range []string{"topic", "partition", "start-offset"} {
		abort.MarkFlagRequired(f)
	}

	txn.AddCommand(list, describe, findHanging, abort)
	root.AddCommand(txn)

	var pcf client.Flags
	producers := &cobra.Command{
		Use:   "producers",
		Short: "Describe the producers partition leaders track (like kafka-transactions.sh describe-producers)",
	}
	pcf.Register(producers.PersistentFlags())
	var partitions []int32
	var producerTopics *nameArgs
	describeProducers := &cobra.Command{
		Use:   "describe TOPIC [TOPIC...]",
		Short: "Producers per partition: id, epoch, last sequence and write, open transaction",
		Long: "Describe the idempotent and transactional producers each partition's leader\n" +
			"tracks (DescribeProducers): producer id and epoch, last sequence, the time of\n" +
			"its last write or marker, the coordinator epoch of its last marker and the\n" +
			"first offset of its open transaction (TXN-START-OFFSET, '-' for none).",
		Example: "  trib producers describe orders\n  trib producers describe --topic orders --partition 0,1",
		RunE: adminRun(&pcf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			return client.DescribeProducers(ctx, adm, producerTopics.names(args), partitions, c.OutOrStdout())
		}),
	}
	producerTopics = addNameFlag(describeProducers, "topic", "", "topic", 1, -1)
	describeProducers.Flags().Int32SliceVar(&partitions, "partition", nil, "only these partitions")
	producers.AddCommand(describeProducers)
	root.AddCommand(producers)
}
