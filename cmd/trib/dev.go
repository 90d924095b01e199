package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func init() {
	var f brokerFlags
	c := &cobra.Command{
		Use:   "dev",
		Short: "Run a local development cluster (data under ./data)",
		Long: "Run a local Tributary cluster for development: one broker with data under\n" +
			"./data, listening on 127.0.0.1:9092. Ctrl-C stops it cleanly; starting it\n" +
			"again on the same data dir serves everything written before.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return f.runNode(func(addr string) {
				fmt.Printf("Tributary is running. Bootstrap server: %s\n", addr)
				fmt.Printf("Try: kcat -b %s -L\n", addr)
			})
		},
	}
	f.register(c, "./data")
	root.AddCommand(c)
}
