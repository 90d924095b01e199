package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/node"
)

type brokerFlags struct {
	nodeID    int32
	dataDir   string
	listen    string
	advertise string
	config    string
	set       []string
	logFormat string
	logLevel  string

	controllerListen string
	controllers      string
}

func (f *brokerFlags) register(c *cobra.Command, defaultData string) {
	c.Flags().Int32Var(&f.nodeID, "node-id", 1, "this node's id (node.id)")
	c.Flags().StringVar(&f.dataDir, "data-dir", defaultData, "directory for logs and metadata (log.dirs)")
	c.Flags().StringVar(&f.listen, "listen", "127.0.0.1:9092", "HOST:PORT to listen on for Kafka clients")
	c.Flags().StringVar(&f.advertise, "advertise", "", "HOST:PORT advertised to clients (default: the listen address)")
	c.Flags().StringVar(&f.config, "config", "", "broker config file (key=value lines, Kafka's names)")
	c.Flags().StringArrayVar(&f.set, "set", nil, "broker config KEY=VALUE (repeatable; overrides env and --config)")
	c.Flags().StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	c.Flags().StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	c.Flags().StringVar(&f.controllerListen, "controller-listen", "", "HOST:PORT for the metadata quorum (Raft and controller RPC); default: this node's entry in --controllers, else a free port")
	c.Flags().StringVar(&f.controllers, "controllers", "", "metadata quorum voters ID@HOST:PORT,... (Kafka's controller.quorum.voters); empty: this node alone")
}

// parseControllers parses ID@HOST:PORT,... into a voter map.
func parseControllers(s string) (map[int32]string, error) {
	if s == "" {
		return nil, nil
	}
	out := map[int32]string{}
	for _, part := range strings.Split(s, ",") {
		id, addr, ok := strings.Cut(strings.TrimSpace(part), "@")
		n, err := strconv.ParseInt(id, 10, 32)
		if !ok || err != nil || addr == "" {
			return nil, fmt.Errorf("--controllers: %q is not ID@HOST:PORT", part)
		}
		out[int32(n)] = addr
	}
	return out, nil
}

// settings merges broker configs: flag > environment (TRIB_<KEY>) > file.
func (f *brokerFlags) settings() (map[string]string, error) {
	out := map[string]string{}
	if f.config != "" {
		file, err := os.Open(f.config)
		if err != nil {
			return nil, err
		}
		defer file.Close()
		sc := bufio.NewScanner(file)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				return nil, fmt.Errorf("%s:%d: expected key=value", f.config, n)
			}
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	for name := range config.BrokerDefs {
		env := "TRIB_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(name))
		if v, ok := os.LookupEnv(env); ok {
			out[name] = v
		}
	}
	for _, kv := range f.set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--set %q: expected KEY=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
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
func (f *brokerFlags) runNode(banner func(addr string)) error {
	logger, err := f.logger()
	if err != nil {
		return err
	}
	settings, err := f.settings()
	if err != nil {
		return err
	}
	controllers, err := parseControllers(f.controllers)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := node.Start(ctx, node.Config{NodeID: f.nodeID, DataDir: f.dataDir, Listen: f.listen, Advertise: f.advertise,
		ControllerListen: f.controllerListen, Controllers: controllers, Settings: settings, Logger: logger})
	if err != nil {
		return err
	}
	if banner != nil {
		banner(n.Addr())
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
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return f.runNode(nil) },
	}
	f.register(c, "./data")
	root.AddCommand(c)
}
