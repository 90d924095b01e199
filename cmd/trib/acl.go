package main

import (
	"context"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/client"
	"github.com/tributary/tributary/internal/security"
)

func init() {
	var cf client.Flags
	acl := &cobra.Command{
		Use:   "acl",
		Short: "Manage ACLs (kafka-acls.sh's flags)",
		Long: "ACLs take effect on brokers with authorizer.class.name=" + "org.apache.kafka.metadata.authorizer.StandardAuthorizer.\n" +
			"Principals are User:name or User:*; a DENY wins over any ALLOW.",
	}
	cf.Register(acl.PersistentFlags())
	var o client.ACLOptions
	resourceFlags := func(fs *pflag.FlagSet) {
		fs.StringSliceVar(&o.Topics, "topic", nil, "topic name (or prefix with --resource-pattern-type prefixed; * for all)")
		fs.StringSliceVar(&o.Groups, "group", nil, "consumer group id")
		fs.StringSliceVar(&o.TransactionalIDs, "transactional-id", nil, "transactional id")
		fs.BoolVar(&o.Cluster, "cluster", false, "the cluster resource")
		fs.StringSliceVar(&o.Operations, "operation", nil, "Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, All")
	}
	create := &cobra.Command{
		Use:   "create",
		Short: "Create ACLs (kafka-acls.sh --add)",
		Example: "  trib acl create --allow-principal User:alice --operation Read --operation Describe --topic orders\n" +
			"  trib acl create --allow-principal User:app --producer --topic logs- --resource-pattern-type prefixed\n" +
			"  trib acl create --allow-principal User:bob --consumer --topic orders --group billing",
		Args: cobra.NoArgs,
		RunE: clientRun(&cf, func(ctx context.Context, cl *kgo.Client, c *cobra.Command) error {
			acls, err := o.ACLsToCreate()
			if err != nil {
				return err
			}
			return client.CreateACLs(ctx, cl, acls, c.OutOrStdout())
		}),
	}
	resourceFlags(create.Flags())
	create.Flags().StringSliceVar(&o.AllowPrincipals, "allow-principal", nil, "principal to allow (User:name, User:*)")
	create.Flags().StringSliceVar(&o.DenyPrincipals, "deny-principal", nil, "principal to deny")
	create.Flags().StringSliceVar(&o.AllowHosts, "allow-host", nil, "host the allowed principals connect from (default *)")
	create.Flags().StringSliceVar(&o.DenyHosts, "deny-host", nil, "host the denied principals connect from (default *)")
	create.Flags().StringVar(&o.PatternType, "resource-pattern-type", "literal", "literal or prefixed")
	create.Flags().BoolVar(&o.Producer, "producer", false, "shortcut: WRITE, DESCRIBE and CREATE on --topic")
	create.Flags().BoolVar(&o.Idempotent, "idempotent", false, "with --producer: IDEMPOTENT_WRITE on the cluster too")
	create.Flags().BoolVar(&o.Consumer, "consumer", false, "shortcut: READ and DESCRIBE on --topic, READ on --group")

	list := &cobra.Command{
		Use:   "list",
		Short: "List ACLs (kafka-acls.sh --list); with --topic NAME --resource-pattern-type match, every ACL that applies to it",
		Args:  cobra.NoArgs,
		RunE: clientRun(&cf, func(ctx context.Context, cl *kgo.Client, c *cobra.Command) error {
			fs, err := o.Filters(security.PatternAny)
			if err != nil {
				return err
			}
			return client.ListACLs(ctx, cl, fs, c.OutOrStdout())
		}),
	}
	resourceFlags(list.Flags())
	list.Flags().StringVar(&o.PatternType, "resource-pattern-type", "", "any (default), match, literal or prefixed")
	list.Flags().StringVar(&o.Principal, "principal", "", "only this principal's ACLs")

	del := &cobra.Command{
		Use:   "delete",
		Short: "Delete the ACLs matching the filters (kafka-acls.sh --remove)",
		Example: "  trib acl delete --topic orders --principal User:alice\n" +
			"  trib acl delete --topic logs- --resource-pattern-type prefixed",
		Args: cobra.NoArgs,
		RunE: clientRun(&cf, func(ctx context.Context, cl *kgo.Client, c *cobra.Command) error {
			fs, err := o.Filters(security.PatternLiteral)
			if err != nil {
				return err
			}
			return client.DeleteACLs(ctx, cl, fs, c.OutOrStdout())
		}),
	}
	resourceFlags(del.Flags())
	del.Flags().StringVar(&o.PatternType, "resource-pattern-type", "", "literal (default), prefixed, match or any")
	del.Flags().StringVar(&o.Principal, "principal", "", "only this principal's ACLs")

	acl.AddCommand(create, list, del)
	root.AddCommand(acl)
}

// clientRun runs fn with a client from cf and a context that Ctrl-C or
// SIGTERM cancels, closing the client afterwards.
func clientRun(cf *client.Flags, fn func(ctx context.Context, cl *kgo.Client, c *cobra.Command) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, _ []string) error {
		ctx, stop := signalContext()
		defer stop()
		cl, err := cf.New()
		if err != nil {
			return err
		}
		defer cl.Close()
		return fn(ctx, cl, c)
	}
}
