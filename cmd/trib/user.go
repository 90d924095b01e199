package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/tributary/tributary/internal/client"
)

func init() {
	var cf client.Flags
	user := &cobra.Command{
		Use:   "user",
		Short: "Manage SASL/SCRAM users (AlterUserScramCredentials)",
		Long: "SCRAM users are stored in the cluster's metadata quorum as salted keys (never the password),\n" +
			"for SCRAM-SHA-256 and SCRAM-SHA-512; PLAIN checks the same passwords.",
	}
	cf.Register(user.PersistentFlags())

	var password string
	var passwordStdin bool
	var mechs []string
	var iterations int32
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a user or replace its password",
		Example: "  trib user create alice --password-stdin < alice.pw\n" +
			"  trib user create alice --password s3cret --mechanism SCRAM-SHA-512 --command-config admin.properties",
		Args: cobra.ExactArgs(1),
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			pw := password
			if passwordStdin {
				line, err := bufio.NewReader(os.Stdin).ReadString('\n')
				if err != nil && line == "" {
					return errors.New("--password-stdin: no password on standard input")
				}
				pw = strings.TrimRight(line, "\r\n")
			}
			if pw == "" {
				return errors.New("give --password or --password-stdin")
			}
			ms, err := client.ScramMechanisms(mechs)
			if err != nil {
				return err
			}
			return client.CreateUser(ctx, adm, args[0], pw, ms, iterations, c.OutOrStdout())
		}),
	}
	create.Flags().StringVar(&password, "password", "", "the password (visible in the process list; prefer --password-stdin)")
	create.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	create.Flags().Int32Var(&iterations, "iterations", 8192, "SCRAM iterations (4096 to 16384)")
	for _, c := range []*cobra.Command{create} {
		c.Flags().StringSliceVar(&mechs, "mechanism", nil, "SCRAM-SHA-256 and/or SCRAM-SHA-512 (default both)")
	}

	var delMechs []string
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user's SCRAM credentials",
		Args:  cobra.ExactArgs(1),
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, args []string) error {
			var ms []kadm.ScramMechanism
			if len(delMechs) > 0 {
				var err error
				if ms, err = client.ScramMechanisms(delMechs); err != nil {
					return err
				}
			}
			return client.DeleteUser(ctx, adm, args[0], ms, c.OutOrStdout())
		}),
	}
	del.Flags().StringSliceVar(&delMechs, "mechanism", nil, "delete only these mechanisms' credentials (default all)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List users with their SCRAM mechanisms and iterations",
		Args:  cobra.NoArgs,
		RunE: adminRun(&cf, func(ctx context.Context, adm *kadm.Client, c *cobra.Command, _ []string) error {
			return client.ListUsers(ctx, adm, c.OutOrStdout())
		}),
	}
	user.AddCommand(create, del, list)
	root.AddCommand(user)
}
