package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/digitalocean/godo"
	"github.com/spf13/cobra"

	"github.com/tributary/tributary/internal/cloud"
)

// cloudFlags are the API client flags of `trib cloud ...` (doctl's names).
type cloudFlags struct {
	apiURL, token, output string
}

func (f *cloudFlags) register(c *cobra.Command) {
	c.PersistentFlags().StringVar(&f.apiURL, "api-url", envOr("TRIB_CLOUD_URL", "http://127.0.0.1:8080"), "control plane URL (TRIB_CLOUD_URL)")
	c.PersistentFlags().StringVarP(&f.token, "access-token", "t", "", "API token (TRIB_CLOUD_TOKEN, else ./cloud/admin.token)")
	c.PersistentFlags().StringVarP(&f.output, "output", "o", "table", "output format: table or json")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// client returns a godo client for the control plane: DigitalOcean's own
// Go client with a custom base URL.
func (f *cloudFlags) client() (*godo.Client, error) {
	token := f.token
	if token == "" {
		token = os.Getenv("TRIB_CLOUD_TOKEN")
	}
	if token == "" {
		if b, err := os.ReadFile(filepath.Join("cloud", "admin.token")); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	if token == "" {
		return nil, fmt.Errorf("no API token: pass --access-token or set TRIB_CLOUD_TOKEN")
	}
	if f.output != "table" && f.output != "json" {
		return nil, fmt.Errorf("unknown --output %q: table or json", f.output)
	}
	hc := &http.Client{Transport: bearer{token: token, next: http.DefaultTransport}}
	return godo.New(hc, godo.SetBaseURL(strings.TrimSuffix(f.apiURL, "/")+"/"))
}

// bearer adds the API token to each request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

func (f *cloudFlags) print(w io.Writer, v any, header string, row func(tw io.Writer)) {
	if f.output == "json" {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		e.Encode(v)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	row(tw)
	tw.Flush()
}

func (f *cloudFlags) printDatabases(w io.Writer, dbs []godo.Database) {
	f.print(w, dbs, "ID\tNAME\tENGINE\tVERSION\tNODES\tSIZE\tREGION\tSTATUS\tBOOTSTRAP", func(tw io.Writer) {
		for _, d := range dbs {
			addr := ""
			if d.Connection != nil {
				addr = fmt.Sprintf("%s:%d", d.Connection.Host, d.Connection.Port)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", d.ID, d.Name, d.EngineSlug, d.VersionSlug, d.NumNodes, d.SizeSlug, d.RegionSlug, d.Status, addr)
		}
	})
}

// waitOnline polls the cluster until it is online (or gone, when gone is
// true), printing to w each status change and, while an operation runs,
// each step it reaches and what it waits for (Tributary's /operations).
func waitOnline(ctx context.Context, cl *godo.Client, id string, gone bool, w io.Writer) (*godo.Database, error) {
	last, lastStep := "", ""
	for {
		d, resp, err := cl.Databases.Get(ctx, id)
		if gone && resp != nil && resp.StatusCode == 404 {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if d.Status != last {
			fmt.Fprintf(w, "%s: %s\n", d.Name, d.Status)
			last = d.Status
		}
		if op, ok := runningOperation(ctx, cl, id); ok {
			step := op.Step
			if op.Error != "" {
				step += " (" + op.Error + ")"
			}
			if step != lastStep {
				fmt.Fprintf(w, "%s: %s: %s\n", d.Name, op.Kind, step)
				lastStep = step
			}
		}
		if !gone && d.Status == cloud.StatusOnline {
			return d, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// cloudOperation is one entry of Tributary's GET
// /v2/databases/{id}/operations (godo has no call for it).
type cloudOperation struct {
	Kind  string `json:"kind"`
	Step  string `json:"step"`
	State string `json:"state"`
	Error string `json:"error"`
}

// runningOperation is the cluster's running operation, if any (none
// when it cannot be read: the progress display is best effort).
func runningOperation(ctx context.Context, cl *godo.Client, id string) (cloudOperation, bool) {
	req, err := cl.NewRequest(ctx, http.MethodGet, "/v2/databases/"+url.PathEscape(id)+"/operations", nil)
	if err != nil {
		return cloudOperation{}, false
	}
	var out struct {
		Operations []cloudOperation `json:"operations"`
	}
	if _, err := cl.Do(ctx, req, &out); err != nil {
		return cloudOperation{}, false
	}
	for i := len(out.Operations) - 1; i >= 0; i-- {
		if out.Operations[i].State == "running" {
			return out.Operations[i], true
		}
	}
	return cloudOperation{}, false
}

func init() {
	var f cloudFlags
	cloudCmd := &cobra.Command{
		Use:   "cloud",
		Short: "The managed service: run the control plane (serve) or drive it (databases, topics, token)",
		Long: "trib cloud serve runs the control plane: an HTTP API in the shape of DigitalOcean's\n" +
			"Databases API for engine \"kafka\" (godo and doctl with a custom API URL drive it),\n" +
			"with clusters of trib broker processes on this host. The other subcommands are its\n" +
			"client, in doctl's shape.\n\n" +
			"Examples:\n" +
			"  trib cloud serve --listen 127.0.0.1:8080 --data-dir ./cloud\n" +
			"  trib cloud databases create demo --num-nodes 3 --wait\n" +
			"  trib cloud databases topics create <id> orders --partition-count 6\n" +
			"  trib cloud databases resize <id> --num-nodes 5 --wait",
	}
	f.register(cloudCmd)

	var sc cloud.ServerConfig
	var logLevel string
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the control plane (API, store, reconciler, local provisioner)",
		Long: "Serve the managed-service API on --listen with its state in --data-dir (SQLite,\n" +
			"cloud.db) and clusters' brokers under --data-dir/clusters. On first start it creates an\n" +
			"admin token, prints it once and writes it to <data-dir>/admin.token (mode 0600).\n" +
			"Brokers keep running when the control plane stops; restarted on the same data dir\n" +
			"it adopts them and finishes any operation that was under way.\n\n" +
			"Examples:\n" +
			"  trib cloud serve\n" +
			"  trib cloud serve --listen 0.0.0.0:8080 --data-dir /var/lib/trib-cloud\n" +
			"  curl -H \"Authorization: Bearer $(cat cloud/admin.token)\" http://127.0.0.1:8080/v2/databases",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return err
			}
			sc.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			if sc.SchemaRegistry != "" {
				if u, err := url.Parse(sc.SchemaRegistry); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return fmt.Errorf("--schema-registry %q: want an http:// or https:// URL", sc.SchemaRegistry)
				}
			}
			if !c.Flags().Changed("store") && os.Getenv("TRIB_CLOUD_STORE") != "" {
				sc.Store = os.Getenv("TRIB_CLOUD_STORE")
			}
			ctx, stop := signalContext()
			defer stop()
			s, err := cloud.Start(ctx, sc)
			if err != nil {
				return err
			}
			if s.AdminToken != "" {
				fmt.Fprintf(c.OutOrStdout(), "Admin token (shown once, also in %s): %s\n", filepath.Join(sc.DataDir, "admin.token"), s.AdminToken)
			}
			fmt.Fprintf(c.OutOrStdout(), "trib cloud API listening on %s\n", s.URL())
			select {
			case <-ctx.Done():
			case <-s.Done():
			}
			return s.Close()
		},
	}
	serve.Flags().StringVar(&sc.Listen, "listen", "127.0.0.1:8080", "HTTP listen address of the API")
	serve.Flags().StringVar(&sc.DataDir, "data-dir", "./cloud", "the control plane's store and the clusters' broker data")
	serve.Flags().StringVar(&sc.Store, "store", "sqlite", "the control plane's store: sqlite (<data-dir>/cloud.db) or a postgres:// URL (TRIB_CLOUD_STORE)")
	serve.Flags().StringVar(&sc.Binary, "trib-binary", "", "trib executable the brokers run (default: this one)")
	serve.Flags().StringToStringVar(&sc.VersionBinaries, "version-binary", nil, "offer VERSION, run by the trib build at PATH (VERSION=PATH, repeatable); an upgrade restarts brokers onto it")
	serve.Flags().StringArrayVar(&sc.BrokerSettings, "broker-set", nil, "broker config KEY=VALUE given to every broker (repeatable)")
	serve.Flags().StringVar(&sc.SchemaRegistry, "schema-registry", "", "Schema Registry URL (e.g. http://127.0.0.1:8081 from trib registry); the console shows Avro, Protobuf and JSON Schema keys and values in its wire format decoded")
	serve.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	serve.Flags().DurationVar(&sc.RollTimeout, "roll-timeout", 5*time.Minute, "how long a rolling restart or upgrade waits for a restarted broker to be back (ready, in every ISR) before it stops and fails")
	serve.Flags().Int64Var(&sc.ReassignThrottle, "reassign-throttle", 0, "bytes/s each leader may send to the new replicas of a resize's reassignment (leader.replication.throttled.rate, set during the moves and cleared after; 0: unthrottled)")
	cloudCmd.AddCommand(serve)

	var tokName, tokScopes, tokTenant, tokDir, tokStore string
	token := &cobra.Command{Use: "token", Short: "API tokens"}
	tokenCreate := &cobra.Command{
		Use:   "create",
		Short: "Create an API token in the control plane's store (run beside trib cloud serve)",
		Long: "Create a bearer token with the read or read,write scope and print it; only its hash\n" +
			"is stored. A token of a --tenant sees and creates only that tenant's clusters (another\n" +
			"tenant's cluster id is answered 404); without one it is the default tenant's, as the\n" +
			"admin token is.\n\nExamples:\n  trib cloud token create --name ci --scopes read\n" +
			"  trib cloud token create --name acme-ops --tenant acme\n" +
			"  trib cloud token create --data-dir /var/lib/trib-cloud --name ops --scopes read,write",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			if !c.Flags().Changed("store") && os.Getenv("TRIB_CLOUD_STORE") != "" {
				tokStore = os.Getenv("TRIB_CLOUD_STORE")
			}
			if !strings.HasPrefix(tokStore, "postgres") {
				if _, err := os.Stat(cloud.StorePath(tokDir)); err != nil {
					return fmt.Errorf("no control plane store in %s (start trib cloud serve --data-dir %s first): %w", tokDir, tokDir, err)
				}
			}
			st, err := cloud.OpenStore(ctx, tokStore, tokDir)
			if err != nil {
				return err
			}
			defer st.Close()
			secret, err := cloud.CreateToken(ctx, st, tokName, tokTenant, strings.Split(tokScopes, ","))
			if err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), secret)
			return nil
		},
	}
	tokenCreate.Flags().StringVar(&tokName, "name", "token", "the token's name")
	tokenCreate.Flags().StringVar(&tokScopes, "scopes", "read,write", "scopes: read, or read,write")
	tokenCreate.Flags().StringVar(&tokTenant, "tenant", "", "the tenant whose clusters the token sees and creates (default: the default tenant, the admin token's)")
	tokenCreate.Flags().StringVar(&tokDir, "data-dir", "./cloud", "the control plane's data dir")
	tokenCreate.Flags().StringVar(&tokStore, "store", "sqlite", "the control plane's store: sqlite or a postgres:// URL (TRIB_CLOUD_STORE)")
	token.AddCommand(tokenCreate)
	cloudCmd.AddCommand(token)

	cloudCmd.AddCommand(databasesCommand(&f))
	root.AddCommand(cloudCmd)
}

// waitAndPrint waits (with wait) until the cluster is online and prints it.
func waitAndPrint(ctx context.Context, f *cloudFlags, cl *godo.Client, c *cobra.Command, id string, wait bool) error {
	if !wait {
		fmt.Fprintln(c.ErrOrStderr(), "Started.")
		return nil
	}
	d, err := waitOnline(ctx, cl, id, false, c.ErrOrStderr())
	if err != nil {
		return err
	}
	f.printDatabases(c.OutOrStdout(), []godo.Database{*d})
	return nil
}

func databasesCommand(f *cloudFlags) *cobra.Command {
	dbs := &cobra.Command{Use: "databases", Aliases: []string{"db", "database"}, Short: "Kafka clusters (doctl databases)"}
	run := func(fn func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, args []string) error {
			cl, err := f.client()
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			return fn(ctx, cl, c, args)
		}
	}

	var req godo.DatabaseCreateRequest
	var wait, protect bool
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a Kafka cluster",
		Long: "Create a cluster of --num-nodes brokers. With --wait, wait until it is online.\n\n" +
			"Examples:\n  trib cloud databases create demo --num-nodes 3 --wait\n  trib cloud databases create demo -o json\n" +
			"  trib cloud databases create orders --deletion-protection",
		Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			req.Name, req.EngineSlug = args[0], cloud.Engine
			// godo's request with Tributary's deletion_protection beside it.
			body := struct {
				*godo.DatabaseCreateRequest
				DeletionProtection bool `json:"deletion_protection,omitempty"`
			}{&req, protect}
			hreq, err := cl.NewRequest(ctx, http.MethodPost, "/v2/databases", body)
			if err != nil {
				return err
			}
			var root struct {
				Database *godo.Database `json:"database"`
			}
			if _, err := cl.Do(ctx, hreq, &root); err != nil {
				return err
			}
			d := root.Database
			if d == nil {
				return fmt.Errorf("the control plane answered the create without a database")
			}
			if wait {
				if d, err = waitOnline(ctx, cl, d.ID, false, c.ErrOrStderr()); err != nil {
					return err
				}
			}
			f.printDatabases(c.OutOrStdout(), []godo.Database{*d})
			return nil
		}),
	}
	create.Flags().IntVar(&req.NumNodes, "num-nodes", 3, "number of brokers")
	create.Flags().StringVar(&req.SizeSlug, "size", "local", "broker size slug (trib cloud databases options)")
	create.Flags().StringVar(&req.Region, "region", "", "region slug (default: the first offered)")
	create.Flags().StringVar(&req.Version, "version", "", "version (default: the first offered)")
	create.Flags().Uint64Var(&req.StorageSizeMib, "storage-size-mib", 0, "disk per broker in MiB (default 10240)")
	create.Flags().StringSliceVar(&req.Tags, "tag", nil, "tags")
	create.Flags().BoolVar(&wait, "wait", false, "wait until the cluster is online")
	create.Flags().BoolVar(&protect, "deletion-protection", false, "refuse deletes until deletion protection is turned off")
	dbs.AddCommand(create)

	dbs.AddCommand(&cobra.Command{
		Use:   "deletion-protection ID on|off",
		Short: "Turn a cluster's deletion protection on or off (Tributary's)",
		Long: "While a cluster's deletion protection is on, deleting it is refused.\n\n" +
			"Examples:\n  trib cloud databases deletion-protection <id> on\n  trib cloud databases deletion-protection <id> off",
		Args: cobra.ExactArgs(2),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			if args[1] != "on" && args[1] != "off" {
				return fmt.Errorf("deletion-protection takes on or off, not %q", args[1])
			}
			hreq, err := cl.NewRequest(ctx, http.MethodPut, "/v2/databases/"+url.PathEscape(args[0])+"/deletion_protection",
				map[string]bool{"deletion_protection": args[1] == "on"})
			if err != nil {
				return err
			}
			if _, err := cl.Do(ctx, hreq, nil); err != nil {
				return err
			}
			fmt.Fprintf(c.ErrOrStderr(), "Deletion protection %s.\n", args[1])
			return nil
		}),
	})

	dbs.AddCommand(&cobra.Command{
		Use: "list", Short: "List clusters", Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, _ []string) error {
			ds, _, err := cl.Databases.List(ctx, nil)
			if err != nil {
				return err
			}
			f.printDatabases(c.OutOrStdout(), ds)
			return nil
		}),
	})
	dbs.AddCommand(&cobra.Command{
		Use: "get ID", Short: "Show a cluster", Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			d, _, err := cl.Databases.Get(ctx, args[0])
			if err != nil {
				return err
			}
			f.printDatabases(c.OutOrStdout(), []godo.Database{*d})
			return nil
		}),
	})

	var resizeNodes int
	var resizeWait bool
	resize := &cobra.Command{
		Use:   "resize ID",
		Short: "Change a cluster's broker count (partitions are rebalanced)",
		Long: "Scale out starts the new brokers and moves replicas onto them; scale in moves\n" +
			"replicas off the brokers that go, then stops them (refused below a topic's\n" +
			"replication factor).\n\nExamples:\n  trib cloud databases resize <id> --num-nodes 5 --wait",
		Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			if _, err := cl.Databases.Resize(ctx, args[0], &godo.DatabaseResizeRequest{NumNodes: resizeNodes}); err != nil {
				return err
			}
			if !resizeWait {
				fmt.Fprintln(c.ErrOrStderr(), "Resize started.")
				return nil
			}
			d, err := waitOnline(ctx, cl, args[0], false, c.ErrOrStderr())
			if err != nil {
				return err
			}
			f.printDatabases(c.OutOrStdout(), []godo.Database{*d})
			return nil
		}),
	}
	resize.Flags().IntVar(&resizeNodes, "num-nodes", 0, "new number of brokers")
	resize.Flags().BoolVar(&resizeWait, "wait", false, "wait until the resize completes")
	resize.MarkFlagRequired("num-nodes")
	dbs.AddCommand(resize)

	var delWait bool
	del := &cobra.Command{
		Use: "delete ID", Short: "Delete a cluster (its brokers and data)", Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			if _, err := cl.Databases.Delete(ctx, args[0]); err != nil {
				return err
			}
			if delWait {
				if _, err := waitOnline(ctx, cl, args[0], true, c.ErrOrStderr()); err != nil {
					return err
				}
			}
			fmt.Fprintln(c.ErrOrStderr(), "Deleted.")
			return nil
		}),
	}
	del.Flags().BoolVar(&delWait, "wait", false, "wait until the cluster is gone")
	dbs.AddCommand(del)

	dbs.AddCommand(&cobra.Command{
		Use: "events ID", Short: "A cluster's event log", Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			evs, _, err := cl.Databases.ListDatabaseEvents(ctx, args[0], nil)
			if err != nil {
				return err
			}
			f.print(c.OutOrStdout(), evs, "ID\tTIME\tEVENT", func(tw io.Writer) {
				for _, e := range evs {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", e.ID, e.CreateTime, e.EventType)
				}
			})
			return nil
		}),
	})

	var upWait, upForce bool
	var upVersion string
	upgrade := &cobra.Command{
		Use:   "upgrade ID",
		Short: "Upgrade a cluster's brokers to another version, one at a time",
		Long: "A rolling restart onto --version: one broker at a time, never one whose restart\n" +
			"would take a partition below min.insync.replicas, the active controller last, each\n" +
			"waited for until it is ready and back in every ISR. A cluster with a maintenance\n" +
			"window upgrades in its window (install-update starts it sooner) unless --force.\n\n" +
			"Examples:\n  trib cloud databases upgrade <id> --version 3.9-b --wait\n" +
			"  trib cloud databases upgrade <id> --version 3.9-b --force --wait",
		Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			if upForce {
				if err := upgradeNow(ctx, cl, args[0], upVersion); err != nil {
					return err
				}
			} else if _, err := cl.Databases.UpgradeMajorVersion(ctx, args[0], &godo.UpgradeVersionRequest{Version: upVersion}); err != nil {
				return err
			}
			if d, _, err := cl.Databases.Get(ctx, args[0]); err == nil && d.Status == cloud.StatusOnline && d.MaintenanceWindow != nil && d.MaintenanceWindow.Pending {
				fmt.Fprintf(c.ErrOrStderr(), "The upgrade waits for the maintenance window (%s %s UTC); install-update starts it now.\n", d.MaintenanceWindow.Day, d.MaintenanceWindow.Hour)
				return nil
			}
			return waitAndPrint(ctx, f, cl, c, args[0], upWait)
		}),
	}
	upgrade.Flags().BoolVar(&upForce, "force", false, "upgrade now, outside the maintenance window")
	upgrade.Flags().StringVar(&upVersion, "version", "", "target version (trib cloud serve --version-binary offers them)")
	upgrade.Flags().BoolVar(&upWait, "wait", false, "wait until every broker is restarted")
	upgrade.MarkFlagRequired("version")
	dbs.AddCommand(upgrade)
	var iuWait bool
	iu := &cobra.Command{
		Use:   "install-update ID",
		Short: "Install the pending upgrade now, or restart every broker one at a time when none is pending",
		Args:  cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			if _, err := cl.Databases.InstallUpdate(ctx, args[0]); err != nil {
				return err
			}
			return waitAndPrint(ctx, f, cl, c, args[0], iuWait)
		}),
	}
	iu.Flags().BoolVar(&iuWait, "wait", false, "wait until every broker is restarted")
	dbs.AddCommand(iu)

	dbs.AddCommand(topicsCommand(f, run))
	for _, c := range accessCommands(f, run) {
		dbs.AddCommand(c)
	}
	return dbs
}

func topicsCommand(f *cloudFlags, run func(func(context.Context, *godo.Client, *cobra.Command, []string) error) func(*cobra.Command, []string) error) *cobra.Command {
	topics := &cobra.Command{Use: "topics", Short: "A cluster's topics (doctl databases topics)"}
	printTopics := func(w io.Writer, ts []godo.DatabaseTopic) {
		f.print(w, ts, "NAME\tPARTITIONS\tREPLICATION FACTOR\tSTATE", func(tw io.Writer) {
			for _, t := range ts {
				rf := uint32(0)
				if t.ReplicationFactor != nil {
					rf = *t.ReplicationFactor
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", t.Name, len(t.Partitions), rf, t.State)
			}
		})
	}
	topics.AddCommand(&cobra.Command{
		Use: "list DATABASE_ID", Short: "List topics", Args: cobra.ExactArgs(1),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			ts, _, err := cl.Databases.ListTopics(ctx, args[0], nil)
			if err != nil {
				return err
			}
			printTopics(c.OutOrStdout(), ts)
			return nil
		}),
	})
	topics.AddCommand(&cobra.Command{
		Use: "get DATABASE_ID TOPIC", Short: "Show a topic with its partitions", Args: cobra.ExactArgs(2),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			t, _, err := cl.Databases.GetTopic(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			f.print(c.OutOrStdout(), t, "PARTITION\tIN-SYNC REPLICAS\tEARLIEST OFFSET\tSIZE\tCONSUMER GROUPS", func(tw io.Writer) {
				for _, p := range t.Partitions {
					var gs []string
					for _, g := range p.ConsumerGroups {
						gs = append(gs, fmt.Sprintf("%s@%d", g.Name, g.Offset))
					}
					fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\n", p.Id, p.InSyncReplicas, p.EarliestOffset, p.Size, strings.Join(gs, ","))
				}
			})
			return nil
		}),
	})
	var parts, rf uint32
	var cfg []string
	create := &cobra.Command{
		Use:   "create DATABASE_ID TOPIC",
		Short: "Create a topic",
		Long: "Create a topic; --config takes DigitalOcean's TopicConfig keys (cleanup_policy,\n" +
			"retention_ms, min_insync_replicas, ...).\n\nExamples:\n" +
			"  trib cloud databases topics create <id> orders --partition-count 6 --replication-factor 3\n" +
			"  trib cloud databases topics create <id> events --config retention_ms=86400000",
		Args: cobra.ExactArgs(2),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			r := &godo.DatabaseCreateTopicRequest{Name: args[1], PartitionCount: &parts, ReplicationFactor: &rf}
			if len(cfg) > 0 {
				m := map[string]any{}
				for _, kv := range cfg {
					k, v, _ := strings.Cut(kv, "=")
					var parsed any
					if json.Unmarshal([]byte(v), &parsed) != nil {
						parsed = v
					}
					m[k] = parsed
				}
				b, _ := json.Marshal(m)
				r.Config = &godo.TopicConfig{}
				if err := json.Unmarshal(b, r.Config); err != nil {
					return fmt.Errorf("--config: %w", err)
				}
			}
			t, _, err := cl.Databases.CreateTopic(ctx, args[0], r)
			if err != nil {
				return err
			}
			printTopics(c.OutOrStdout(), []godo.DatabaseTopic{*t})
			return nil
		}),
	}
	create.Flags().Uint32Var(&parts, "partition-count", 3, "partitions")
	create.Flags().Uint32Var(&rf, "replication-factor", 2, "replicas per partition")
	create.Flags().StringArrayVar(&cfg, "config", nil, "TopicConfig KEY=VALUE (repeatable)")
	topics.AddCommand(create)
	topics.AddCommand(&cobra.Command{
		Use: "delete DATABASE_ID TOPIC", Short: "Delete a topic", Args: cobra.ExactArgs(2),
		RunE: run(func(ctx context.Context, cl *godo.Client, c *cobra.Command, args []string) error {
			_, err := cl.Databases.DeleteTopic(ctx, args[0], args[1])
			return err
		}),
	})
	return topics
}
