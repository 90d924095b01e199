// Command trib is Tributary's only binary: broker, local dev cluster and
// client tools. This package is CLI wiring only; logic lives in internal/.
// Each subcommand lives in its own file and registers itself on root in init.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

var root = &cobra.Command{
	Use:           "trib",
	Short:         "Tributary: a Kafka-compatible event streaming platform",
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	rejectUnknownSubcommands(root)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "trib:", err)
		os.Exit(1)
	}
}
