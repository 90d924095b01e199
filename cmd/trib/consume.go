package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tributary/tributary/internal/client"
)

func init() {
	var cf client.Flags
	var o client.ConsumeOptions
	var format string
	var parts []string
	var quiet bool
	var topic *nameArgs
	c := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records of a topic (by partition, or in a consumer group with --group)",
		Long: "Print records of TOPIC, one per line by default (the value), starting at the\n" +
			"end unless --from-beginning or --offset says otherwise. Runs until Ctrl-C,\n" +
			"-n records, or with -e the end of every partition.\n\n" +
			"With --group the group assigns partitions and consumption resumes from its\n" +
			"committed offsets; --from-beginning then only applies to partitions with no\n" +
			"committed offset, and the offsets of printed records are committed.\n\n" +
			"--offset: beginning, end, N (absolute), -N (N before the end), @MS (first\n" +
			"record at or after Unix milliseconds MS). An absolute offset outside the log\n" +
			"is an error unless --reset earliest|latest says where to start instead.\n\n" +
			"--formatter offsets|group-metadata prints __consumer_offsets records as\n" +
			"Kafka's OffsetsMessageFormatter / GroupMetadataMessageFormatter do (one JSON\n" +
			"object per line; Kafka's class names are accepted too).\n\n" +
			"--format tokens: " + client.FormatHelp,
		Example: "  trib consume test --from-beginning\n" +
			"  trib consume --topic test --bootstrap-server kafka:9092 --offset 1000 --reset latest\n" +
			"  trib consume __consumer_offsets --formatter offsets --from-beginning --max-messages 1",
		RunE: func(c *cobra.Command, args []string) error {
			o.Topic = topic.names(args)[0]
			f, err := client.ParseFormat(format)
			if err != nil {
				return err
			}
			o.Format = f
			if o.Partitions, err = client.ParsePartitions(parts); err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			n, err := client.Consume(ctx, &cf, o, c.OutOrStdout())
			if !quiet {
				fmt.Fprintf(os.Stderr, "Processed a total of %d messages\n", n)
			}
			return err
		},
	}
	cf.Register(c.Flags())
	topic = addNameFlag(c, "topic", "t", "topic", 1, 1)
	c.Flags().StringVarP(&o.Group, "group", "g", "", "consume as a member of this consumer group, committing what is printed")
	c.Flags().BoolVar(&o.FromBeginning, "from-beginning", false, "start at the earliest offset")
	c.Flags().StringVarP(&o.Offset, "offset", "o", "", "start offset: beginning, end, N, -N, @UNIX_MILLIS")
	c.Flags().StringArrayVarP(&parts, "partition", "p", nil, "only these partitions (repeatable or comma separated)")
	c.Flags().IntVarP(&o.Num, "num", "n", 0, "exit after this many records (0: no limit)")
	c.Flags().IntVar(&o.Num, "max-messages", 0, "same as --num (the kafka-console-consumer.sh name)")
	c.Flags().StringVar(&o.Reset, "reset", "", "where an out-of-range --offset starts instead: earliest or latest (default: error)")
	c.Flags().StringVar(&o.Formatter, "formatter", "", "print __consumer_offsets records as Kafka's formatters: "+client.FormatterNames)
	c.Flags().BoolVarP(&o.ExitAtEnd, "exit", "e", false, "exit once the end of every partition (as of start-up) is reached")
	c.Flags().StringVarP(&format, "format", "f", `%s\n`, "output format per record")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "do not print the record count on exit")
	root.AddCommand(c)
}
