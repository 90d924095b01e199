package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/node"
)

func init() {
	var f brokerFlags
	var brokers int
	var secure bool
	c := &cobra.Command{
		Use:   "dev",
		Short: "Run a local development cluster (data under ./data, or ./data-cluster with --brokers)",
		Long: "Run a local Tributary cluster for development: one broker on 127.0.0.1:9092\n" +
			"with data in ./data by default, or --brokers N in one process on consecutive\n" +
			"ports (each a metadata quorum voter, controller ports 1000 above) with node N's\n" +
			"data in ./data-cluster/node-N. The two layouts never share a directory: a\n" +
			"single-broker data dir is refused for a cluster and the other way round.\n" +
			"Ctrl-C stops it cleanly; starting it again on the same data dir serves\n" +
			"everything written before. Broker configs come from --config, TRIB_<KEY> and\n" +
			"--set as for `trib broker`; with --brokers, node ids, listeners and data dirs\n" +
			"are assigned here, so those keys are refused.",
		Example: "  trib dev\n  trib dev --brokers 3 --set default.replication.factor=3\n  trib dev --print-config\n  trib dev --secure",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			f.adminDefault = devAdminAddr
			if secure {
				if brokers > 1 {
					return fmt.Errorf("--secure runs one broker; drop --brokers")
				}
				var err error
				if f.secure, err = prepareDevSecure(f.dataDir, f.listen); err != nil {
					return err
				}
			}
			if brokers <= 1 {
				return f.runNode(func(n *node.Node) {
					fmt.Printf("Tributary is running. Bootstrap server: %s\n", n.Addr())
					if a := n.AdminAddr(); a != "" {
						fmt.Printf("Admin (metrics, health): http://%s/metrics\n", a)
					}
					if f.secure != nil {
						f.secure.banner(n.Addr())
						return
					}
					fmt.Printf("Try: kcat -b %s -L\n", n.Addr())
				})
			}
			if !f.changed("data-dir") {
				f.dataDir = "./data-cluster"
			}
			return f.runCluster(brokers)
		},
	}
	f.register(c, "./data")
	c.Flags().IntVar(&brokers, "brokers", 1, "number of brokers in the local cluster")
	c.Flags().BoolVar(&secure, "secure", false, "SASL_SSL with a generated CA and certificates in DATA/secure, ACLs on, a super user "+devSuperUser+" with a generated password; writes and prints DATA/secure/client.properties")
	root.AddCommand(c)
}

// checkDataDirKind refuses a single-broker data dir for a multi-broker
// dev cluster and the other way round, so the two never nest: a single
// broker keeps its metadata in DIR/__cluster_metadata-0, a dev cluster
// keeps node N's data in DIR/node-N.
func checkDataDirKind(dir string, cluster bool) error {
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	if cluster && exists(filepath.Join(dir, "__cluster_metadata-0")) {
		return fmt.Errorf("%s holds a single broker's data; a multi-broker dev cluster needs its own directory (default ./data-cluster, or --data-dir)", dir)
	}
	if !cluster && exists(filepath.Join(dir, "node-1", "__cluster_metadata-0")) {
		return fmt.Errorf("%s holds a multi-broker dev cluster (node-N subdirectories); run `trib dev --brokers N` on it, or give this broker its own --data-dir", dir)
	}
	return nil
}

// clusterKeys are the broker configs `trib dev --brokers N` assigns per node.
var clusterKeys = []string{"node.id", "broker.id", "process.roles", "log.dirs", "log.dir", "metadata.log.dir", "listeners",
	"advertised.listeners", "controller.quorum.voters", "controller.quorum.bootstrap.servers"}

// runCluster runs n nodes in this process: Kafka listeners on consecutive
// ports from --listen, controller listeners on the ports 1000 above.
func (f *brokerFlags) runCluster(n int) error {
	logger, err := f.logger()
	if err != nil {
		return err
	}
	base, err := f.load()
	if err != nil {
		return fmt.Errorf("broker configuration:\n%w", err)
	}
	for _, k := range clusterKeys {
		if v := base.Effective(k); v.Origin != config.OriginDefault && v.Where != "--data-dir" && v.Where != "--listen" {
			return fmt.Errorf("trib dev --brokers %d assigns node ids, listeners and data dirs itself; %s is set (%s %s): use trib broker for that", n, k, v.Origin, v.Where)
		}
	}
	if err := checkDataDirKind(f.dataDir, true); err != nil {
		return err
	}
	host, portStr, err := net.SplitHostPort(f.listen)
	if err != nil {
		return err
	}
	basePort, err := strconv.Atoi(portStr)
	if err != nil || basePort == 0 {
		return fmt.Errorf("--listen needs a fixed port with --brokers")
	}
	voters := map[int32]string{}
	for i := 1; i <= n; i++ {
		voters[int32(i)] = net.JoinHostPort(host, strconv.Itoa(basePort+1000+i-1))
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
			nodes[i-1], errs[i-1] = startDevNode(ctx, f, int32(i), filepath.Join(f.dataDir, "node-"+strconv.Itoa(i)),
				net.JoinHostPort(host, strconv.Itoa(basePort+i-1)), voters, logger.With("node", i))
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
	var addrs, admins []string
	for _, nd := range nodes {
		addrs = append(addrs, nd.Addr())
		if a := nd.AdminAddr(); a != "" {
			admins = append(admins, "http://"+a+"/metrics")
		}
	}
	fmt.Printf("Tributary is running: %d brokers. Bootstrap servers: %s\n", n, strings.Join(addrs, ","))
	if len(admins) > 0 {
		fmt.Printf("Admin (metrics, health): %s\n", strings.Join(admins, " "))
	}
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

// startDevNode starts node id of a dev cluster with the shared settings and
// its own id, listeners and data dir (as flags, so --print-config and
// DescribeConfigs show them).
func startDevNode(ctx context.Context, f *brokerFlags, id int32, dir, listen string, voters map[int32]string, logger *slog.Logger) (*node.Node, error) {
	var vs []string
	for v, addr := range voters {
		vs = append(vs, fmt.Sprintf("%d@%s", v, addr))
	}
	sort.Strings(vs)
	flags := map[string]config.FlagValue{
		"node.id":                  {Value: strconv.Itoa(int(id)), Flag: "trib dev"},
		"log.dirs":                 {Value: dir, Flag: "trib dev"},
		"controller.quorum.voters": {Value: strings.Join(vs, ","), Flag: "trib dev"},
	}
	src := config.Sources{File: f.config, Env: os.Environ(), Set: f.set, Listen: listen, ControllerListen: voters[id], Flags: flags}
	bcfg, err := config.Load(src)
	if err != nil {
		return nil, err
	}
	// The admin listener: the Kafka port + 552 (9644 for 9092) unless
	// admin.listen is set; a set port is node 1's, the others count up
	// from it (0 stays 0: free ports).
	admin := devAdminAddr(listen)
	if v, set := bcfg.Explicit("admin.listen"); set {
		admin = v
		if h, p, err := net.SplitHostPort(v); err == nil {
			if port, _ := strconv.Atoi(p); port > 0 {
				admin = net.JoinHostPort(h, strconv.Itoa(port+int(id)-1))
			}
		}
	}
	flags["admin.listen"] = config.FlagValue{Value: admin, Flag: "trib dev"}
	if bcfg, err = config.Load(src); err != nil {
		return nil, err
	}
	l, err := bcfg.Layout()
	if err != nil {
		return nil, err
	}
	return node.Start(ctx, node.Config{NodeID: l.NodeID, DataDir: l.DataDir, Listen: l.Listen, Listeners: l.Listeners,
		InterBrokerListener: l.BrokerListener, ControllerListen: l.ControllerListen,
		ControllerAdvertise: l.ControllerAdvertise, Controllers: l.Voters, Broker: bcfg, Logger: logger})
}

// devAdminAddr is trib dev's admin listener for a Kafka listen address:
// the same host, the port 552 above (9644 for 9092); port 0 stays 0.
func devAdminAddr(listen string) string {
	h, p, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	port, _ := strconv.Atoi(p)
	if port > 0 {
		port += 552
	}
	return net.JoinHostPort(h, strconv.Itoa(port))
}
