package main

import (
	"context"
	"fmt"
	"github.com/twmb/franz-go/pkg/kadm"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/tributary/tributary/internal/client"
)

func init() {
	var cf client.Flags
	cluster := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect the cluster, rebalance replicas, drain brokers",
	}
	cf.Register(cluster.PersistentFlags())

	info := &cobra.Command{
		Use:   "info",
		Short: "Show brokers (address, rack, fenced), the active controller and the metadata quorum",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			cl, err := cf.New()
			if err != nil {
				return err
			}
			defer cl.Close()
			return client.ClusterInfo(ctx, cl, c.OutOrStdout())
		},
	}

	var o client.ClusterOptions
	rebalance := &cobra.Command{
		Use:   "rebalance",
		Short: "Even out replicas and preferred leaders over the live brokers (e.g. after adding a broker)",
		Long: "Plans an even spread of every partition's replicas and preferred leaders over the live brokers,\n" +
			"moving as few replicas as possible, prints the plan, applies it with partition reassignments,\n" +
			"waits until the moved replicas have caught up, then elects the preferred leaders.\n" +
			"Replicas on brokers that are not live (fenced or gone) are moved to live ones too.",
		Args: cobra.NoArgs,
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			return client.Rebalance(ctx, adm, o, c.OutOrStdout())
		}),
	}
	drain := &cobra.Command{
		Use:   "drain BROKER_ID",
		Short: "Move every replica off a broker (before removing it) and wait until done",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil || id < 0 {
				return fmt.Errorf("broker id %q: expected a non-negative integer", args[0])
			}
			ctx, stop := signalContext()
			defer stop()
			adm, err := cf.Admin()
			if err != nil {
				return err
			}
			defer adm.Close()
			return client.Drain(ctx, adm, int32(id), o, c.OutOrStdout())
		},
	}
	for _, cmd := range []*cobra.Command{rebalance, drain} {
		cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the plan only; move nothing")
		cmd.Flags().DurationVar(&o.Timeout, "timeout", 10*time.Minute, "how long to wait for the moves to complete")
	}

	cluster.AddCommand(info, rebalance, drain)
	root.AddCommand(cluster)
}
