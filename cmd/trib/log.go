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
	var key storage.KeySource
	dump := &cobra.Command{
		Use:   "dump --files F.log[,G.index,...]",
		Short: "Print segment, index and time index files (like Kafka's DumpLogSegments)",
		Long: "Prints the batches of .log files (records too with --deep-iteration, keys and values with\n" +
			"--print-data-log; transaction markers show endTxnMarker and coordinatorEpoch), the entries of\n" +
			".index/.timeindex files and the aborted transactions of .txnindex files. --index-sanity-check verifies\n" +
			"indexes against their .log and prints only the verdict. Works on a stopped or running broker's files.\n" +
			"Exits non-zero if any file is invalid: a batch failing its CRC or header checks, offsets going\n" +
			"backwards, a truncated batch at the end of a .log, or an index whose entries do not match its .log\n" +
			"(checked whenever the .log is beside it, with or without --index-sanity-check).\n\n" +
			"Encrypted segments (log.encryption.enable) are read with the key-encryption key given by\n" +
			"--encryption-key-file or --encryption-key-command (as the broker's log.encryption.key.*); a .key file\n" +
			"prints the id of the key that wraps it.\n\n" +
			"Examples:\n" +
			"  trib log dump --files data/orders-0/00000000000000000000.log --print-data-log\n" +
			"  trib log dump --files data/orders-0/00000000000000000000.log --encryption-key-file /etc/trib/kek",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if files == "" {
				return errors.New("--files is required")
			}
			if key.File != "" || key.Command != "" {
				kek, err := storage.LoadKEK(key.File, key.Command)
				if err != nil {
					return err
				}
				opts.Keys = storage.NewKeyring(kek)
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
	dump.Flags().StringVar(&key.File, "encryption-key-file", "", "file holding the key-encryption key of encrypted segments (hex or base64)")
	dump.Flags().StringVar(&key.Command, "encryption-key-command", "", "command printing the key-encryption key of encrypted segments")
	logCmd.AddCommand(dump)

	var dataDir string
	var cur, prev storage.KeySource
	rekey := &cobra.Command{
		Use:   "rekey --data-dir DIR --key-file NEW --previous-key-file OLD",
		Short: "Re-wrap every segment key with a new key-encryption key (KEK rotation)",
		Long: "Rotates the key-encryption key of encryption at rest offline: every segment key file (<base>.key)\n" +
			"under --data-dir that the previous KEK wrapped is re-wrapped by the new one, atomically per file;\n" +
			"segment data is not rewritten. Every key file is checked first, so a key file neither KEK unwraps\n" +
			"stops the run before anything changes. Stop the broker first; a running broker rotates by itself\n" +
			"when restarted with log.encryption.key.* set to the new KEK and log.encryption.previous.key.* to\n" +
			"the old one.\n\n" +
			"Example:\n" +
			"  trib log rekey --data-dir /var/lib/trib --key-file /etc/trib/kek.new --previous-key-file /etc/trib/kek",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" {
				return errors.New("--data-dir is required")
			}
			kr, err := storage.LoadKeyring(cur, prev)
			if err != nil {
				return err
			}
			n, err := storage.Rekey(dataDir, kr)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "re-wrapped %d segment key(s) with key id %s\n", n, kr.Current().ID())
			return nil
		},
	}
	rekey.Flags().StringVar(&dataDir, "data-dir", "", "the broker's data dir (log.dir)")
	rekey.Flags().StringVar(&cur.File, "key-file", "", "file holding the new key-encryption key")
	rekey.Flags().StringVar(&cur.Command, "key-command", "", "command printing the new key-encryption key")
	rekey.Flags().StringVar(&prev.File, "previous-key-file", "", "file holding the key-encryption key being replaced")
	rekey.Flags().StringVar(&prev.Command, "previous-key-command", "", "command printing the key-encryption key being replaced")
	logCmd.AddCommand(rekey)
	root.AddCommand(logCmd)
}
