package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/tributary/tributary/internal/client"
)

func init() {
	var cf client.Flags
	group := &cobra.Command{
		Use:     "group",
		Aliases: []string{"groups"},
		Short:   "List, describe (with lag), delete and seek consumer groups",
	}
	cf.Register(group.PersistentFlags())

	var states []string
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups",
		Args:    cobra.NoArgs,
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			return client.ListGroups(ctx, adm, states, c.OutOrStdout())
		}),
	}
	list.Flags().StringSliceVar(&states, "state", nil, "only groups in these states (Empty, Stable, PreparingRebalance, CompletingRebalance)")

	var describeNames, deleteNames *nameArgs
	var status bool
	var admins []string
	describe := &cobra.Command{
		Use:   "describe GROUP [GROUP...]",
		Short: "Describe groups: state, protocol, and per partition the committed offset, log end offset, lag and owner",
		Long: "Describe groups: state, protocol, and per partition the committed offset, log end\n" +
			"offset, lag and owner. With --status, also the lag status each group's coordinator\n" +
			"computes with Burrow's rules (OK, WARN, STOP, STALL, REWIND per partition; OK, WARN\n" +
			"or ERR per group) over its last commits, with lag in seconds, read from the\n" +
			"brokers' admin listeners (admin.listen; trib dev prints them): docs/METRICS.md.",
		Example: "  trib group describe my-group\n  trib group describe --group my-group --bootstrap-server kafka:9092\n" +
			"  trib group describe my-group --status --admin 127.0.0.1:9644,127.0.0.1:9645,127.0.0.1:9646",
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			names := describeNames.names(args)
			if err := client.DescribeGroups(ctx, adm, names, c.OutOrStdout()); err != nil || !status {
				return err
			}
			fmt.Fprintln(c.OutOrStdout())
			if len(admins) == 0 && os.Getenv("TRIB_ADMIN") != "" {
				admins = strings.Split(os.Getenv("TRIB_ADMIN"), ",")
			}
			return client.GroupLagStatus(ctx, admins, names, c.OutOrStdout())
		}),
	}
	describeNames = addNameFlag(describe, "group", "g", "group id", 1, -1)
	describe.Flags().BoolVar(&status, "status", false, "also print each group's lag status (Burrow's rules) from the brokers' admin listeners")
	describe.Flags().StringSliceVar(&admins, "admin", nil, "brokers' admin listeners HOST:PORT,... for --status (default $TRIB_ADMIN)")

	del := &cobra.Command{
		Use:   "delete GROUP [GROUP...]",
		Short: "Delete empty groups and their committed offsets",
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			return client.DeleteGroups(ctx, adm, deleteNames.names(args), c.OutOrStdout())
		}),
	}
	deleteNames = addNameFlag(del, "group", "g", "group id", 1, -1)

	var so client.SeekOptions
	seek := &cobra.Command{
		Use:   "seek GROUP --topic T (--to earliest|latest|OFFSET|@UNIX-MS|RFC3339 | --shift-by N)",
		Short: "Commit new offsets for a group with no active members",
		Args:  cobra.ExactArgs(1),
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			so.Shift = c.Flags().Changed("shift-by")
			return client.SeekGroup(ctx, adm, args[0], so, c.OutOrStdout())
		}),
	}
	seek.Flags().StringVarP(&so.Topic, "topic", "t", "", "topic to seek (required)")
	seek.Flags().StringVar(&so.To, "to", "", "earliest, latest, an offset, @UNIX-MS or an RFC 3339 time (first record at or after it)")
	seek.Flags().Int32SliceVarP(&so.Partitions, "partitions", "p", nil, "only these partitions (default all)")
	seek.Flags().BoolVar(&so.DryRun, "dry-run", false, "print the new offsets without committing them")
	seek.Flags().Int64Var(&so.ShiftBy, "shift-by", 0, "move each partition's committed offset by N (negative: back), within the log's start and end")
	seek.MarkFlagRequired("topic")
	seek.MarkFlagsOneRequired("to", "shift-by")
	seek.MarkFlagsMutuallyExclusive("to", "shift-by")

	group.AddCommand(list, describe, del, seek)
	root.AddCommand(group)
}
