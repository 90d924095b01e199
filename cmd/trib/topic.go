package main

import (
	"context"
	"github.com/twmb/franz-go/pkg/kadm"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tributary/tributary/internal/client"
)

// signalContext is cancelled by Ctrl-C or SIGTERM.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// adminRun runs fn with an admin client from cf and a context that Ctrl-C
// or SIGTERM cancels, closing the client afterwards.
func adminRun(cf *client.Flags, fn func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		ctx, stop := signalContext()
		defer stop()
		adm, err := cf.Admin()
		if err != nil {
			return err
		}
		defer adm.Close()
		return fn(ctx, adm, c, args)
	}
}

func init() {
	var cf client.Flags
	topic := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, alter and delete topics",
	}
	cf.Register(topic.PersistentFlags())

	var co client.CreateTopicOptions
	create := &cobra.Command{
		Use:   "create NAME [NAME...]",
		Short: "Create topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			return client.CreateTopics(ctx, adm, args, co, c.OutOrStdout())
		}),
	}
	create.Flags().Int32VarP(&co.Partitions, "partitions", "p", -1, "number of partitions (-1: the broker's num.partitions)")
	create.Flags().Int16VarP(&co.ReplicationFactor, "replication-factor", "r", -1, "replication factor (-1: the broker's default.replication.factor)")
	create.Flags().StringArrayVarP(&co.Configs, "config", "c", nil, "topic config KEY=VALUE (repeatable)")
	create.Flags().BoolVar(&co.DryRun, "dry-run", false, "validate only; create nothing")

	var internal bool
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics",
		Args:    cobra.NoArgs,
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			return client.ListTopics(ctx, adm, internal, c.OutOrStdout())
		}),
	}
	list.Flags().BoolVarP(&internal, "internal", "i", false, "include internal topics")

	var allConfigs bool
	var pf client.PartitionFilter
	describe := &cobra.Command{
		Use:   "describe [NAME...]",
		Short: "Describe topics: partitions, leader, replicas, ISR, configs (all topics if none named)",
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			if pf.UnderReplicated || pf.Unavailable {
				return client.DescribePartitions(ctx, adm, args, pf, c.OutOrStdout())
			}
			return client.DescribeTopics(ctx, adm, args, allConfigs, c.OutOrStdout())
		}),
	}
	describe.Flags().BoolVarP(&allConfigs, "all-configs", "a", false, "list every effective config with its source, not only overrides")
	describe.Flags().BoolVar(&pf.UnderReplicated, "under-replicated-partitions", false, "only partitions whose ISR is smaller than their replica set")
	describe.Flags().BoolVar(&pf.Unavailable, "unavailable-partitions", false, "only partitions without a live leader")

	del := &cobra.Command{
		Use:   "delete NAME [NAME...]",
		Short: "Delete topics and their data",
		Args:  cobra.MinimumNArgs(1),
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			return client.DeleteTopics(ctx, adm, args, c.OutOrStdout())
		}),
	}

	var set, unset []string
	var dryRun bool
	alter := &cobra.Command{
		Use:   "alter-config NAME --set KEY=VALUE --delete KEY",
		Short: "Set or delete (reset to default) topic configs",
		Args:  cobra.ExactArgs(1),
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			return client.AlterTopicConfig(ctx, adm, args[0], set, unset, dryRun, c.OutOrStdout())
		}),
	}
	alter.Flags().StringArrayVarP(&set, "set", "s", nil, "set topic config KEY=VALUE (repeatable)")
	alter.Flags().StringArrayVarP(&unset, "delete", "d", nil, "delete the override of KEY, back to its default (repeatable)")
	alter.Flags().BoolVar(&dryRun, "dry-run", false, "validate only; change nothing")

	topic.AddCommand(create, list, describe, del, alter)
	root.AddCommand(topic)
}
