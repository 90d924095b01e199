package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/tributary/tributary/internal/client"
)

func init() {
	var cf client.Flags
	quota := &cobra.Command{
		Use:   "quota",
		Short: "Manage client quotas (AlterClientQuotas, like kafka-configs --entity-type users/clients)",
		Long: "Client quotas limit a user, a client id, or a user's client id: producer_byte_rate and\n" +
			"consumer_byte_rate in bytes per second, request_percentage in percent of one request thread,\n" +
			"controller_mutation_rate in partitions created or deleted per second.\n" +
			"A default (--user-default, --client-id-default) applies to each user or client id without its own.\n" +
			"A client over its quota gets throttle_time_ms in its responses and its connection is paused.",
	}
	cf.Register(quota.PersistentFlags())
	var ef client.QuotaEntityFlags
	entityFlags := func(c *cobra.Command) {
		c.Flags().StringVar(&ef.User, "user", "", "the user (the authenticated principal's name)")
		c.Flags().BoolVar(&ef.UserDefault, "user-default", false, "the default for users")
		c.Flags().StringVar(&ef.ClientID, "client-id", "", "the client id")
		c.Flags().BoolVar(&ef.ClientIDDefault, "client-id-default", false, "the default for client ids")
	}

	var add, del []string
	alter := &cobra.Command{
		Use:   "alter",
		Short: "Set or remove quota values of a user, client id, or both",
		Example: "  trib quota alter --user alice --add-config producer_byte_rate=1048576,consumer_byte_rate=2097152\n" +
			"  trib quota alter --client-id-default --add-config request_percentage=50\n" +
			"  trib quota alter --user alice --client-id app1 --delete-config producer_byte_rate",
		Args: cobra.NoArgs,
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, _ []string) error {
			e, err := ef.Entity()
			if err != nil {
				return err
			}
			set, err := client.ParseQuotaConfigs(add)
			if err != nil {
				return err
			}
			return client.AlterQuotas(ctx, adm, e, set, del, c.OutOrStdout())
		}),
	}
	entityFlags(alter)
	alter.Flags().StringSliceVar(&add, "add-config", nil, "key=value pairs to set")
	alter.Flags().StringSliceVar(&del, "delete-config", nil, "keys to remove")

	var strict bool
	describe := &cobra.Command{
		Use:     "describe",
		Aliases: []string{"list"},
		Short:   "Show quotas (all, or those of the named user and/or client id)",
		Example: "  trib quota describe\n  trib quota describe --user alice\n  trib quota describe --client-id-default --strict",
		Args:    cobra.NoArgs,
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, _ []string) error {
			f, err := ef.Filter()
			if err != nil {
				return err
			}
			return client.DescribeQuotas(ctx, adm, f, strict, c.OutOrStdout())
		}),
	}
	entityFlags(describe)
	describe.Flags().BoolVar(&strict, "strict", false, "only entities with exactly the named components")
	quota.AddCommand(alter, describe)
	root.AddCommand(quota)
}
