package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tributary/tributary/internal/node"
)

func init() {
	var f brokerFlags
	var brokers int
	c := &cobra.Command{
		Use:   "dev",
		Short: "Run a local development cluster (data under ./data)",
		Long: "Run a local Tributary cluster for development, with data under ./data:\n" +
			"one broker on 127.0.0.1:9092 by default, or --brokers N on consecutive ports\n" +
			"(each a metadata quorum voter; node N keeps its data in ./data/node-N).\n" +
			"Ctrl-C stops it cleanly; starting it again on the same data dir serves\n" +
			"everything written before.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if brokers <= 1 {
				return f.runNode(func(addr string) {
					fmt.Printf("Tributary is running. Bootstrap server: %s\n", addr)
					fmt.Printf("Try: kcat -b %s -L\n", addr)
				})
			}
			return f.runCluster(brokers)
		},
	}
	f.register(c, "./data")
	c.Flags().IntVar(&brokers, "brokers", 1, "number of brokers in the local cluster")
	root.AddCommand(c)
}

// runCluster runs n nodes in this process: Kafka listeners on consecutive
// ports from --listen, controller listeners on the ports 1000 above.
func (f *brokerFlags) runCluster(n int) error {
	logger, err := f.logger()
	if err != nil {
		return err
	}
	settings, err := f.settings()
	if err != nil {
		return err
	}
	host, portStr, err := net.SplitHostPort(f.listen)
	if err != nil {
		return err
	}
	base, err := strconv.Atoi(portStr)
	if err != nil || base == 0 {
		return fmt.Errorf("--listen needs a fixed port with --brokers")
	}
	voters := map[int32]string{}
	for i := 1; i <= n; i++ {
		voters[int32(i)] = net.JoinHostPort(host, strconv.Itoa(base+1000+i-1))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	nodes := make([]*node.Node, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			nodes[i-1], errs[i-1] = node.Start(ctx, node.Config{NodeID: int32(i),
				DataDir: filepath.Join(f.dataDir, "node-"+strconv.Itoa(i)),
				Listen:  net.JoinHostPort(host, strconv.Itoa(base+i-1)), Controllers: voters,
				Settings: settings, Logger: logger.With("node", i)})
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			for _, nd := range nodes {
				if nd != nil {
					nd.Close()
				}
			}
			return fmt.Errorf("node %d: %w", i+1, err)
		}
	}
	var addrs []string
	for _, nd := range nodes {
		addrs = append(addrs, nd.Addr())
	}
	fmt.Printf("Tributary is running: %d brokers. Bootstrap servers: %s\n", n, strings.Join(addrs, ","))
	fmt.Printf("Try: kcat -b %s -L\n", addrs[0])
	<-ctx.Done()
	logger.Info("shutting down")
	for i := len(nodes) - 1; i >= 0; i-- {
		if err := nodes[i].Close(); err != nil {
			logger.Error("stopping node", "node", i+1, "err", err)
		}
	}
	logger.Info("stopped cleanly")
	return nil
}
