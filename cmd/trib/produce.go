package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tributary/tributary/internal/client"
)

func init() {
	var cf client.Flags
	var o client.ProduceOptions
	var format string
	var topic *nameArgs
	c := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce one record per line of standard input",
		Long: "Produce one record per line of standard input to TOPIC and wait until every\n" +
			"record is acknowledged. With --key-separator each line is split at the first\n" +
			"separator into key and value (a line without it gets a null key). A topic that\n" +
			"does not exist is created by the broker when its auto.create.topics.enable is on.\n" +
			"Fails after --connect-timeout when no broker answers.\n\n" +
			"--format tokens (printed per acknowledged record): " + client.FormatHelp,
		Example: "  echo hello | trib produce test\n" +
			"  trib produce --topic test --bootstrap-server kafka:9092 -K: < lines.txt",
		RunE: func(c *cobra.Command, args []string) error {
			o.Topic = topic.names(args)[0]
			if format != "" {
				f, err := client.ParseFormat(format)
				if err != nil {
					return err
				}
				o.Format = f
			}
			opts, err := o.ProduceOpts()
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			cl, err := cf.New(opts...)
			if err != nil {
				return err
			}
			defer cl.Close()
			n, err := client.Produce(ctx, cl, o, os.Stdin, c.OutOrStdout())
			if err != nil {
				return fmt.Errorf("%w (%d records acknowledged)", err, n)
			}
			return nil
		},
	}
	cf.Register(c.Flags())
	topic = addNameFlag(c, "topic", "t", "topic", 1, 1)
	c.Flags().StringVarP(&o.KeySeparator, "key-separator", "K", "", "split each line at the first SEP into key and value")
	c.Flags().StringVar(&o.Acks, "acks", "all", "required acks: all (-1), 1 or 0")
	c.Flags().Int32VarP(&o.Partition, "partition", "p", -1, "send every record to this partition (-1: partition by key)")
	c.Flags().StringVarP(&o.Compression, "compression", "z", "none", "batch compression: none, gzip, snappy, lz4, zstd")
	c.Flags().StringArrayVarP(&o.Headers, "header", "H", nil, "header KEY=VALUE added to every record (repeatable)")
	c.Flags().DurationVar(&o.DeliveryTimeout, "delivery-timeout", 2*time.Minute, "fail a record not acknowledged within this time, retries included (0: wait forever)")
	c.Flags().StringVarP(&format, "format", "f", "", `print each acknowledged record, e.g. 'Produced to partition %p at offset %o\n'`)
	root.AddCommand(c)
}
