package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

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
	var createNames *nameArgs
	create := &cobra.Command{
		Use:   "create NAME [NAME...]",
		Short: "Create topics",
		Long: "Create topics (kafka-topics.sh --create). The command returns once every live broker\n" +
			"lists the new topics, so a describe right after sees them.",
		Example: "  trib topic create orders --partitions 6 --replication-factor 3\n" +
			"  trib topic create --if-not-exists --topic test --partitions 1 --replication-factor 1 --bootstrap-server kafka:9092",
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			return client.CreateTopics(ctx, adm, createNames.names(args), co, c.OutOrStdout())
		}),
	}
	createNames = addNameFlag(create, "topic", "t", "topic name", 1, -1)
	create.Flags().BoolVar(&co.IfNotExists, "if-not-exists", false, "a topic that already exists is not an error")
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
	var describeNames *nameArgs
	describe := &cobra.Command{
		Use:   "describe [NAME...]",
		Short: "Describe topics: partitions, leader, replicas, ISR, configs (all topics if none named)",
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			args = describeNames.names(args)
			if pf.UnderReplicated || pf.Unavailable {
				return client.DescribePartitions(ctx, adm, args, pf, c.OutOrStdout())
			}
			return client.DescribeTopics(ctx, adm, args, allConfigs, c.OutOrStdout())
		}),
	}
	describeNames = addNameFlag(describe, "topic", "t", "topic name", 0, -1)
	describe.Flags().BoolVarP(&allConfigs, "all-configs", "a", false, "list every effective config with its source, not only overrides")
	describe.Flags().BoolVar(&pf.UnderReplicated, "under-replicated-partitions", false, "only partitions whose ISR is smaller than their replica set")
	describe.Flags().BoolVar(&pf.Unavailable, "unavailable-partitions", false, "only partitions without a live leader")

	var ifExists bool
	var deleteNames *nameArgs
	del := &cobra.Command{
		Use:   "delete NAME [NAME...]",
		Short: "Delete topics and their data",
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			return client.DeleteTopics(ctx, adm, deleteNames.names(args), ifExists, c.OutOrStdout())
		}),
	}
	deleteNames = addNameFlag(del, "topic", "t", "topic name", 1, -1)
	del.Flags().BoolVar(&ifExists, "if-exists", false, "a topic that does not exist is not an error")

	var partitions int
	var alterDryRun bool
	var alterNames *nameArgs
	alterParts := &cobra.Command{
		Use:   "alter NAME --partitions N",
		Short: "Add partitions to a topic (kafka-topics.sh --alter --partitions)",
		Long: "Raise a topic's partition count to N with CreatePartitions; the new partitions' replicas are\n" +
			"placed on the live brokers like a new topic's. Partitions cannot be removed. Records with a\n" +
			"key may map to another partition afterwards. Configs: trib topic alter-config.",
		Example: "  trib topic alter orders --partitions 12",
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			if partitions <= 0 {
				return errors.New("--partitions N is required (the new, larger partition count)")
			}
			return client.AlterPartitions(ctx, adm, alterNames.names(args)[0], partitions, alterDryRun, c.OutOrStdout())
		}),
	}
	alterNames = addNameFlag(alterParts, "topic", "t", "topic name", 1, 1)
	alterParts.Flags().IntVarP(&partitions, "partitions", "p", 0, "the new partition count (larger than the current one)")
	alterParts.Flags().BoolVar(&alterDryRun, "dry-run", false, "validate only; change nothing")

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

	topic.AddCommand(create, list, describe, del, alterParts, alter)
	root.AddCommand(topic)
}
