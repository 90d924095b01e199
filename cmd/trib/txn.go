package main

import (
	"context"

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

	txn.AddCommand(list, describe)
	root.AddCommand(txn)
}
