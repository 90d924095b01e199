package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tributary/tributary/internal/client"
	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/connect"
)

func init() {
	var cf client.Flags
	var listen, advertise, group, configFile string
	var sets []string
	c := &cobra.Command{
		Use:   "connect",
		Short: "Run a Kafka Connect–compatible worker (REST API on --listen)",
		Long: "Run a Kafka Connect worker: Connect's REST API (default 127.0.0.1:8083),\n" +
			"connectors and tasks, with configs, statuses and source offsets in the\n" +
			"compacted topics connect-configs, connect-status and connect-offsets.\n" +
			"Workers started with the same --group form a cluster: they share the\n" +
			"connectors and tasks, and a worker's work moves to the others when it stops\n" +
			"(at once on a clean stop; after scheduled.rebalance.max.delay.ms when it dies).\n\n" +
			"Built-in connectors: FileStreamSource and FileStreamSink (Connect's names and\n" +
			"configs). Worker settings use Connect's keys, from --config FILE (a\n" +
			"connect-distributed.properties) and --set KEY=VALUE, e.g.\n" +
			"  --set value.converter=org.apache.kafka.connect.storage.StringConverter\n" +
			"  --set offset.flush.interval.ms=1000\n\n" +
			"Examples:\n" +
			"  trib connect --brokers 127.0.0.1:9092\n" +
			"  curl -X POST -H 'Content-Type: application/json' 127.0.0.1:8083/connectors \\\n" +
			"    -d '{\"name\":\"src\",\"config\":{\"connector.class\":\"FileStreamSource\",\"file\":\"/etc/hosts\",\"topic\":\"hosts\"}}'",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			kv := map[string]string{}
			if configFile != "" {
				f, err := os.Open(configFile)
				if err != nil {
					return err
				}
				props, _, err := config.ParseProperties(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", configFile, err)
				}
				for k, v := range props {
					switch k {
					case "bootstrap.servers":
						if cf.Brokers == "" {
							cf.Brokers = v
						}
					case "listeners":
						if !c.Flags().Changed("listen") {
							listen = strings.TrimPrefix(strings.Split(v, ",")[0], "http://")
						}
					case "plugin.path", "rest.extension.classes", "offset.storage.file.filename":
						// Not applicable: the connectors are built in.
					default:
						kv[k] = v
					}
				}
			}
			for _, s := range sets {
				k, v, err := client.ParseKV("--set", s)
				if err != nil {
					return err
				}
				kv[k] = v
			}
			if c.Flags().Changed("group") || kv["group.id"] == "" {
				kv["group.id"] = group
			}
			settings, err := connect.ParseSettings(kv)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			level := new(slog.LevelVar)
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			return connect.Run(ctx, connect.RunOptions{
				Brokers: client.Brokers(cf.Brokers), Listen: listen, Advertise: advertise, Settings: settings, Logger: log, LogLevel: level,
				Ready: func(addr string) {
					fmt.Fprintf(c.OutOrStdout(), "Tributary Connect worker is running. REST API: http://%s/ (group %s)\n", addr, settings.GroupID)
				},
			})
		},
	}
	cf.Register(c.Flags())
	c.Flags().StringVar(&listen, "listen", "127.0.0.1:8083", "REST API address host:port (port 0 picks a free port)")
	c.Flags().StringVar(&advertise, "advertise", "", "host:port other workers and statuses use for this worker (default: the bound --listen address)")
	c.Flags().StringVar(&group, "group", "connect-cluster", "the Connect cluster's group id (group.id)")
	c.Flags().StringVar(&configFile, "config", "", "a connect-distributed.properties file (Connect's worker keys)")
	c.Flags().StringArrayVar(&sets, "set", nil, "worker setting KEY=VALUE with Connect's key names (repeatable)")
	root.AddCommand(c)
}
