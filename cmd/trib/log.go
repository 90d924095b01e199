package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tributary/tributary/internal/storage"
)

func init() {
	logCmd := &cobra.Command{Use: "log", Short: "Inspect partition log files on disk"}
	var files string
	var opts storage.DumpOptions
	dump := &cobra.Command{
		Use:   "dump --files F.log[,G.index,...]",
		Short: "Print segment, index and time index files (like Kafka's DumpLogSegments)",
		Long: "Prints the batches of .log files (records too with --deep-iteration, keys and values with\n" +
			"--print-data-log; transaction markers show endTxnMarker and coordinatorEpoch), the entries of\n" +
			".index/.timeindex files and the aborted transactions of .txnindex files. --index-sanity-check verifies\n" +
			"indexes against their .log and prints only the verdict. Works on a stopped or running broker's files.\n" +
			"Exits non-zero if any file is invalid: a batch failing its CRC or header checks, offsets going\n" +
			"backwards, a truncated batch at the end of a .log, or an index whose entries do not match its .log\n" +
			"(checked whenever the .log is beside it, with or without --index-sanity-check).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if files == "" {
				return errors.New("--files is required")
			}
			failed := 0
			for _, f := range strings.Split(files, ",") {
				if f = strings.TrimSpace(f); f == "" {
					continue
				}
				if err := storage.DumpFile(cmd.OutOrStdout(), f, opts); err != nil {
					fmt.Fprintln(os.Stderr, "trib:", err)
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d file(s) failed", failed)
			}
			return nil
		},
	}
	dump.Flags().StringVar(&files, "files", "", "comma-separated .log, .index, .timeindex and .txnindex files")
	dump.Flags().BoolVar(&opts.DeepIteration, "deep-iteration", false, "print every record, not just batch headers")
	dump.Flags().BoolVar(&opts.PrintData, "print-data-log", false, "print record keys, values and headers (implies --deep-iteration)")
	dump.Flags().BoolVar(&opts.IndexSanityCheck, "index-sanity-check", false, "check indexes against their .log and print only the verdict")
	logCmd.AddCommand(dump)
	root.AddCommand(logCmd)
}
