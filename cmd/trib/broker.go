package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/node"
)

type brokerFlags struct {
	nodeID      int32
	dataDir     string
	listen      string
	advertise   string
	config      string
	set         []string
	logFormat   string
	logLevel    string
	printConfig bool

	controllerListen string
	controllers      string

	// flagChanged reports whether a flag was given on the command line.
	flagChanged func(string) bool
	// adminDefault, if set, gives admin.listen a value from the Kafka
	// listen address when no source sets it (trib dev turns it on).
	adminDefault func(listen string) string
	// secure is trib dev --secure's generated security (secure.go).
	secure *devSecure
}

func (f *brokerFlags) register(c *cobra.Command, defaultData string) {
	f.flagChanged = c.Flags().Changed
	c.Flags().Int32Var(&f.nodeID, "node-id", 1, "this node's id (overrides node.id)")
	c.Flags().StringVar(&f.dataDir, "data-dir", defaultData, "directory for logs and metadata (overrides log.dirs)")
	c.Flags().StringVar(&f.listen, "listen", "127.0.0.1:9092", "HOST:PORT to listen on for Kafka clients (overrides the broker listener in listeners)")
	c.Flags().StringVar(&f.advertise, "advertise", "", "HOST:PORT advertised to clients (overrides advertised.listeners; default: the listen address)")
	c.Flags().StringVar(&f.config, "config", "", "broker config file: Kafka's server.properties format and names (docs/CONFIG.md)")
	c.Flags().StringArrayVar(&f.set, "set", nil, "broker config KEY=VALUE (repeatable; overrides TRIB_<KEY> and --config)")
	c.Flags().StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	c.Flags().StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	c.Flags().BoolVar(&f.printConfig, "print-config", false, "print every effective broker config and where it came from (default, file, env, flag), then exit")
	c.Flags().StringVar(&f.controllerListen, "controller-listen", "", "HOST:PORT for the metadata quorum (Raft and controller RPC; overrides the CONTROLLER listener); default: this node's entry in --controllers, else a free port")
	c.Flags().StringVar(&f.controllers, "controllers", "", "metadata quorum voters ID@HOST:PORT,... (overrides controller.quorum.voters); empty: this node alone")
}

// changed reports whether a flag was given on the command line.
func (f *brokerFlags) changed(name string) bool { return f.flagChanged != nil && f.flagChanged(name) }

// load reads the broker configuration: flag > environment (TRIB_<KEY>) >
// --config file > default. Dedicated flags count only when given.
func (f *brokerFlags) load() (*config.Broker, error) {
	src := config.Sources{File: f.config, Env: os.Environ(), Set: f.set, Flags: map[string]config.FlagValue{}}
	if f.changed("node-id") {
		src.Flags["node.id"] = config.FlagValue{Value: strconv.Itoa(int(f.nodeID)), Flag: "--node-id"}
	}
	if f.changed("data-dir") {
		src.Flags["log.dirs"] = config.FlagValue{Value: f.dataDir, Flag: "--data-dir"}
	}
	if f.changed("controllers") {
		src.Flags["controller.quorum.voters"] = config.FlagValue{Value: f.controllers, Flag: "--controllers"}
	}
	if f.changed("listen") {
		src.Listen = f.listen
	}
	if f.changed("advertise") {
		src.Advertise = f.advertise
	}
	if f.changed("controller-listen") {
		src.ControllerListen = f.controllerListen
	}
	if f.secure != nil {
		for k, v := range f.secure.settings(f.listen) {
			src.Flags[k] = v
		}
		src.Listen = ""
	}
	b, err := config.Load(src)
	if err != nil || f.adminDefault == nil {
		return b, err
	}
	if _, set := b.Explicit("admin.listen"); set {
		return b, nil
	}
	src.Flags["admin.listen"] = config.FlagValue{Value: f.adminDefault(f.listen), Flag: "trib dev"}
	return config.Load(src)
}

func (f *brokerFlags) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("unknown --log-format %q", f.logFormat)
}

// runNode starts one node and blocks until SIGINT/SIGTERM, then stops it
// cleanly (connections closed, logs flushed and closed).
func (f *brokerFlags) runNode(banner func(n *node.Node)) error {
	logger, err := f.logger()
	if err != nil {
		return err
	}
	bcfg, err := f.load()
	if err != nil {
		return fmt.Errorf("broker configuration:\n%w", err)
	}
	if f.printConfig {
		return bcfg.Print(os.Stdout)
	}
	l, err := bcfg.Layout()
	if err != nil {
		return fmt.Errorf("broker configuration:\n%w", err)
	}
	if err := checkDataDirKind(l.DataDir, false); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := node.Start(ctx, node.Config{NodeID: l.NodeID, DataDir: l.DataDir, MetadataDir: l.MetadataDir,
		Listen: l.Listen, Advertise: l.Advertise, Listeners: l.Listeners, InterBrokerListener: l.BrokerListener,
		ControllerListen: l.ControllerListen, ControllerAdvertise: l.ControllerAdvertise,
		ControllerName: l.ControllerName, ControllerProtocol: l.ControllerProtocol,
		Controllers: l.Voters, Broker: bcfg, Logger: logger})
	if err != nil {
		return err
	}
	if f.secure != nil {
		if err := f.secure.start(n); err != nil {
			n.Close()
			return fmt.Errorf("trib dev --secure: creating the super user: %w", err)
		}
	}
	if banner != nil {
		banner(n)
	}
	<-ctx.Done()
	logger.Info("shutting down")
	if err := n.Close(); err != nil {
		return err
	}
	logger.Info("stopped cleanly")
	return nil
}

func init() {
	var f brokerFlags
	c := &cobra.Command{
		Use:   "broker",
		Short: "Run one broker node",
		Long: "Run one Tributary node: a broker and a member of the metadata quorum.\n\n" +
			"Configuration uses Kafka's broker config names and its server.properties format;\n" +
			"Kafka's own KRaft server.properties starts a broker unchanged. Precedence, highest\n" +
			"first: flags (--set KEY=VALUE and the dedicated flags), TRIB_<KEY> environment\n" +
			"variables (TRIB_NUM_PARTITIONS=3), --config FILE, defaults. Keys that do not apply\n" +
			"to Tributary (thread pools, JVM tuning) are accepted and shown by --print-config;\n" +
			"keys it cannot honour (quotas, JKS key stores, GSSAPI, several log dirs) and unknown\n" +
			"keys stop it with a message naming the key. docs/CONFIG.md lists every key.",
		Example: "  trib broker --config server.properties\n" +
			"  trib broker --config server.properties --print-config\n" +
			"  TRIB_LOG_RETENTION_HOURS=24 trib broker --node-id 2 --config server-2.properties\n" +
			"  trib broker --node-id 1 --listen 127.0.0.1:9092 --controller-listen 127.0.0.1:10092 \\\n" +
			"      --controllers 1@127.0.0.1:10092,2@127.0.0.1:10093,3@127.0.0.1:10094 --data-dir data-cluster/node-1",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return f.runNode(nil) },
	}
	f.register(c, "./data")
	root.AddCommand(c)
}
