package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/client"
	"github.com/tributary/tributary/internal/schemaregistry"
)

func init() {
	var cf client.Flags
	var cfg schemaregistry.Config
	var logLevel, logFormat string
	c := &cobra.Command{
		Use:   "registry",
		Short: "Run a Confluent-compatible Schema Registry (REST on :8081, schemas in _schemas)",
		Long: "Serve the Confluent Schema Registry REST API, storing schemas in the compacted\n" +
			"topic _schemas of the cluster at --brokers. Any number of instances may run\n" +
			"against one cluster: each reads the whole topic and serves reads; writes go\n" +
			"to the instance elected through the consumer group \"schema-registry\" (the\n" +
			"others forward them over HTTP to its --advertise URL).\n\n" +
			"Schema types served: " + fmt.Sprint(schemaregistry.Types()) + ".\n\n" +
			"Examples:\n" +
			"  trib registry --brokers 127.0.0.1:9092\n" +
			"  trib registry --brokers b1:9092,b2:9092 --listen 0.0.0.0:8081 --advertise http://reg1:8081\n" +
			"  curl -X POST -H 'Content-Type: application/vnd.schemaregistry.v1+json' \\\n" +
			"    --data '{\"schema\":\"{\\\"type\\\":\\\"string\\\"}\"}' http://127.0.0.1:8081/subjects/t-value/versions",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return err
			}
			opts := &slog.HandlerOptions{Level: level}
			switch logFormat {
			case "text":
				cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, opts))
			case "json":
				cfg.Logger = slog.New(slog.NewJSONHandler(os.Stderr, opts))
			default:
				return fmt.Errorf("unknown --log-format %q", logFormat)
			}
			cfg.Brokers = client.Brokers(cf.Brokers)
			cfg.ClientOpts = []kgo.Opt{kgo.ClientID(cf.ClientID)}
			ctx, stop := signalContext()
			defer stop()
			s, err := schemaregistry.Start(ctx, cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "schema registry listening on %s\n", s.URL())
			select {
			case <-ctx.Done():
			case <-s.Done():
			}
			return s.Close()
		},
	}
	cf.Register(c.Flags())
	c.Flags().StringVar(&cfg.Listen, "listen", "127.0.0.1:8081", "HTTP listen address")
	c.Flags().StringVar(&cfg.Advertise, "advertise", "", "URL other instances forward writes to (default http://<listen address>)")
	c.Flags().StringVar(&cfg.Topic, "topic", schemaregistry.DefaultTopic, "topic holding the schemas (kafkastore.topic)")
	c.Flags().StringVar(&cfg.Group, "group", "schema-registry", "consumer group electing the writer")
	c.Flags().BoolVar(&cfg.Eligible, "leader-eligible", true, "may be elected writer (leader.eligibility)")
	c.Flags().StringVar(&cfg.DefaultCompatibility, "compatibility", schemaregistry.LevelBackward, "compatibility level when no config is set")
	c.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn, error")
	c.Flags().StringVar(&logFormat, "log-format", "text", "log format: text or json")
	root.AddCommand(c)
}
