package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/digitalocean/godo"
	"github.com/spf13/cobra"
)

// The access commands of `trib cloud databases` in doctl's shape: get-ca,
// connection, user, firewalls, maintenance-window.

type runFunc func(func(context.Context, *godo.Client, *cobra.Command, []string) error) func(*cobra.Command, []string) error

func accessCommands(f *cloudFlags, run runFunc) []*cobra.Command {
	getCA := &cobra.Command{
		Use:   "get-ca DATABASE_ID",
		Short: "Print the cluster's CA certificate (PEM), the truststore of its SASL_SSL listener",
		Long: "Print the CA certificate clients trust (ssl.ca.location for librdkafka, ssl.truststore.location\n" +
			"with ssl.truststore.type=PEM for Kafka's clients).\n\n" +
			"Examples:\n  trib cloud databases get-ca <id> > ca.pem",
		Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			ca, _, err := cl.Databases.GetCA(ctx, args[0])
			if err != nil {
				return err
			}
			if f.output == "json" {
				f.print(c.OutOrStdout(), ca, "", nil)
				return nil
			}
			_, err = c.OutOrStdout().Write(ca.Certificate)
			return err
		}),
	}

	connection := &cobra.Command{
		Use:   "connection DATABASE_ID",
		Short: "Print the bootstrap address, the primary user's credentials and the mTLS port",
		Long: "Examples:\n  trib cloud databases connection <id>\n" +
			"  kcat -b HOST:PORT -X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-512 \\\n" +
			"    -X sasl.username=doadmin -X sasl.password=PASSWORD -X ssl.ca.location=ca.pem -L",
		Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			d, _, err := cl.Databases.Get(ctx, args[0])
			if err != nil {
				return err
			}
			if d.Connection == nil {
				return fmt.Errorf("the cluster is %s and has no connection yet", d.Status)
			}
			cn := d.Connection
			f.print(c.OutOrStdout(), cn, "HOST\tPORT\tUSER\tPASSWORD\tSSL\tMTLS PORT", func(tw io.Writer) {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%v\t%d\n", cn.Host, cn.Port, cn.User, cn.Password, cn.SSL, cn.ApplicationPorts["kafka_mtls"])
			})
			return nil
		}),
	}
	return []*cobra.Command{getCA, connection, usersCommand(f, run), firewallsCommand(f, run), maintenanceCommand(f, run)}
}

// parseACLs reads doctl's --acl TOPIC:PERMISSION values.
func parseACLs(vals []string) ([]*godo.KafkaACL, error) {
	var out []*godo.KafkaACL
	for _, v := range vals {
		for _, one := range strings.Split(v, ",") {
			topic, perm, ok := strings.Cut(strings.TrimSpace(one), ":")
			if !ok || topic == "" || perm == "" {
				return nil, fmt.Errorf("--acl %q: TOPIC:PERMISSION (permission admin, consume, produce or produceconsume)", one)
			}
			out = append(out, &godo.KafkaACL{Topic: topic, Permission: perm})
		}
	}
	return out, nil
}

func usersCommand(f *cloudFlags, run runFunc) *cobra.Command {
	users := &cobra.Command{Use: "user", Aliases: []string{"users"}, Short: "A cluster's users (SCRAM password and client certificate) and their ACLs (doctl databases user)"}
	printUsers := func(w io.Writer, us []godo.DatabaseUser) {
		f.print(w, us, "NAME\tROLE\tPASSWORD\tACL", func(tw io.Writer) {
			for _, u := range us {
				var acl []string
				if u.Settings != nil {
					for _, a := range u.Settings.ACL {
						acl = append(acl, a.Topic+":"+a.Permission)
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, u.Password, strings.Join(acl, ","))
			}
		})
	}
	users.AddCommand(&cobra.Command{
		Use: "list DATABASE_ID", Short: "List users", Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			us, _, err := cl.Databases.ListUsers(ctx, args[0], nil)
			if err != nil {
				return err
			}
			printUsers(c.OutOrStdout(), us)
			return nil
		}),
	})
	var certDir string
	get := &cobra.Command{
		Use:   "get DATABASE_ID USER",
		Short: "Show a user with its password; --cert-dir writes its client certificate and key",
		Long: "Show a user. Every user also has a client certificate signed by the cluster's CA\n" +
			"(access_cert, access_key in -o json) for the mTLS port (application_ports.kafka_mtls of\n" +
			"the connection); --cert-dir DIR writes them to DIR/USER.pem and DIR/USER.key (mode 0600).\n\n" +
			"Examples:\n  trib cloud databases user get <id> app\n" +
			"  trib cloud databases user get <id> app --cert-dir .\n" +
			"  kcat -b HOST:MTLS_PORT -X security.protocol=SSL -X ssl.ca.location=ca.pem \\\n" +
			"    -X ssl.certificate.location=app.pem -X ssl.key.location=app.key -L",
		Args: cobra.ExactArgs(2),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			u, _, err := cl.Databases.GetUser(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			if certDir != "" {
				if u.AccessCert == "" {
					return fmt.Errorf("user %s has no client certificate yet", u.Name)
				}
				for name, body := range map[string]string{u.Name + ".pem": u.AccessCert, u.Name + ".key": u.AccessKey} {
					if err := os.WriteFile(filepath.Join(certDir, name), []byte(body), 0o600); err != nil {
						return err
					}
				}
			}
			printUsers(c.OutOrStdout(), []godo.DatabaseUser{*u})
			return nil
		}),
	}
	get.Flags().StringVar(&certDir, "cert-dir", "", "write the user's client certificate and key (USER.pem, USER.key) to this directory")
	users.AddCommand(get)
	var acls []string
	create := &cobra.Command{
		Use:   "create DATABASE_ID USER",
		Short: "Create a user with a generated password",
		Long: "Create a SCRAM user; --acl grants TOPIC:PERMISSION (TOPIC is *, a name or a prefix\n" +
			"ending in *; PERMISSION is admin, consume, produce or produceconsume).\n\n" +
			"Examples:\n  trib cloud databases user create <id> app --acl orders:produceconsume --acl 'logs-*:consume'",
		Args: cobra.ExactArgs(2),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			acl, err := parseACLs(acls)
			if err != nil {
				return err
			}
			u, _, err := cl.Databases.CreateUser(ctx, args[0], &godo.DatabaseCreateUserRequest{Name: args[1], Settings: &godo.DatabaseUserSettings{ACL: acl}})
			if err != nil {
				return err
			}
			printUsers(c.OutOrStdout(), []godo.DatabaseUser{*u})
			return nil
		}),
	}
	create.Flags().StringArrayVar(&acls, "acl", nil, "TOPIC:PERMISSION (repeatable, or comma-separated)")
	users.AddCommand(create)
	var updACLs []string
	update := &cobra.Command{
		Use: "update DATABASE_ID USER", Short: "Replace a user's ACLs", Args: cobra.ExactArgs(2),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			acl, err := parseACLs(updACLs)
			if err != nil {
				return err
			}
			u, _, err := cl.Databases.UpdateUser(ctx, args[0], args[1], &godo.DatabaseUpdateUserRequest{Settings: &godo.DatabaseUserSettings{ACL: acl}})
			if err != nil {
				return err
			}
			printUsers(c.OutOrStdout(), []godo.DatabaseUser{*u})
			return nil
		}),
	}
	update.Flags().StringArrayVar(&updACLs, "acl", nil, "TOPIC:PERMISSION (repeatable, or comma-separated)")
	users.AddCommand(update)
	users.AddCommand(&cobra.Command{
		Use: "reset DATABASE_ID USER", Short: "Give a user a new generated password", Args: cobra.ExactArgs(2),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			u, _, err := cl.Databases.ResetUserAuth(ctx, args[0], args[1], &godo.DatabaseResetUserAuthRequest{})
			if err != nil {
				return err
			}
			printUsers(c.OutOrStdout(), []godo.DatabaseUser{*u})
			return nil
		}),
	})
	users.AddCommand(&cobra.Command{
		Use: "delete DATABASE_ID USER", Short: "Delete a user (not the primary user doadmin)", Args: cobra.ExactArgs(2),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			_, err := cl.Databases.DeleteUser(ctx, args[0], args[1])
			return err
		}),
	})
	return users
}

func firewallsCommand(f *cloudFlags, run runFunc) *cobra.Command {
	fw := &cobra.Command{Use: "firewalls", Aliases: []string{"firewall"}, Short: "Trusted sources: where users may connect from (doctl databases firewalls)"}
	printRules := func(w io.Writer, rs []godo.DatabaseFirewallRule) {
		f.print(w, rs, "UUID\tTYPE\tVALUE\tCREATED", func(tw io.Writer) {
			for _, r := range rs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.UUID, r.Type, r.Value, r.CreatedAt.Format("2006-01-02T15:04:05Z"))
			}
		})
	}
	fw.AddCommand(&cobra.Command{
		Use: "list DATABASE_ID", Short: "List trusted sources", Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			rs, _, err := cl.Databases.GetFirewallRules(ctx, args[0])
			if err != nil {
				return err
			}
			printRules(c.OutOrStdout(), rs)
			return nil
		}),
	})
	var rules []string
	replace := &cobra.Command{
		Use:   "replace DATABASE_ID",
		Short: "Replace the trusted sources (none: every address may connect)",
		Long: "Examples:\n  trib cloud databases firewalls replace <id> --rule ip_addr:127.0.0.1 --rule ip_addr:10.1.2.3\n" +
			"  trib cloud databases firewalls replace <id>          # no rule: every address",
		Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			req := &godo.DatabaseUpdateFirewallRulesRequest{Rules: []*godo.DatabaseFirewallRule{}}
			for _, r := range rules {
				for _, one := range strings.Split(r, ",") {
					typ, val, ok := strings.Cut(strings.TrimSpace(one), ":")
					if !ok {
						return fmt.Errorf("--rule %q: TYPE:VALUE, e.g. ip_addr:127.0.0.1", one)
					}
					req.Rules = append(req.Rules, &godo.DatabaseFirewallRule{Type: typ, Value: val})
				}
			}
			if _, err := cl.Databases.UpdateFirewallRules(ctx, args[0], req); err != nil {
				return err
			}
			rs, _, err := cl.Databases.GetFirewallRules(ctx, args[0])
			if err != nil {
				return err
			}
			printRules(c.OutOrStdout(), rs)
			return nil
		}),
	}
	replace.Flags().StringArrayVar(&rules, "rule", nil, "TYPE:VALUE (ip_addr:ADDRESS; repeatable, or comma-separated)")
	fw.AddCommand(replace)
	return fw
}

func maintenanceCommand(f *cloudFlags, run runFunc) *cobra.Command {
	mw := &cobra.Command{Use: "maintenance-window", Short: "The weekly window in which a pending upgrade is installed"}
	mw.AddCommand(&cobra.Command{
		Use: "get DATABASE_ID", Short: "Show the window and what is pending", Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			d, _, err := cl.Databases.Get(ctx, args[0])
			if err != nil {
				return err
			}
			w := d.MaintenanceWindow
			if w == nil {
				w = &godo.DatabaseMaintenanceWindow{}
			}
			f.print(c.OutOrStdout(), w, "DAY\tHOUR\tPENDING\tDESCRIPTION", func(tw io.Writer) {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", w.Day, w.Hour, w.Pending, strings.Join(w.Description, "; "))
			})
			return nil
		}),
	})
	var day, hour string
	update := &cobra.Command{
		Use:   "update DATABASE_ID",
		Short: "Set the window (a day and an hour, UTC; it lasts 4 hours)",
		Long:  "Examples:\n  trib cloud databases maintenance-window update <id> --day tuesday --hour 03:00",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			_, err := cl.Databases.UpdateMaintenance(ctx, args[0], &godo.DatabaseUpdateMaintenanceRequest{Day: day, Hour: hour})
			return err
		}),
	}
	update.Flags().StringVar(&day, "day", "", "day of the week (monday ... sunday)")
	update.Flags().StringVar(&hour, "hour", "", "HH:MM, UTC")
	update.MarkFlagRequired("day")
	update.MarkFlagRequired("hour")
	mw.AddCommand(update)
	return mw
}

// upgradeNow sends an upgrade with Tributary's "force" field, which
// godo's UpgradeVersionRequest lacks, through godo's own request path.
func upgradeNow(ctx context.Context, cl *godo.Client, id, version string) error {
	req, err := cl.NewRequest(ctx, http.MethodPut, "/v2/databases/"+id+"/upgrade", map[string]any{"version": version, "force": true})
	if err != nil {
		return err
	}
	_, err = cl.Do(ctx, req, nil)
	return err
}
