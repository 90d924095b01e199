// Command kfake runs franz-go's kfake in-process Kafka-wire broker as a
// benchmark peer: in memory, or persisting to --data-dir (kfake's DataDir
// mode: page cache writes, fsync only on segment roll and shutdown, unless
// --sync). It runs until SIGINT/SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 9092, "port to listen on (127.0.0.1)")
	dataDir := flag.String("data-dir", "", "persist to this directory (kfake DataDir); empty: in memory")
	sync := flag.Bool("sync", false, "fsync every batch (kfake SyncWrites)")
	flag.Parse()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.Ports(*port)}
	if *dataDir != "" {
		opts = append(opts, kfake.DataDir(*dataDir))
		if *sync {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	fmt.Println("kfake listening on", c.ListenAddrs())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	c.Close()
}
