// Package client holds the logic behind trib's client tools (topic, produce,
// consume, ...): broker-list resolution, client construction on franz-go
// kgo/kadm, and the commands' output formats. cmd/trib only wires flags to it.
package client

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// EnvBrokers names the environment variable holding the default seed
	// brokers (comma separated host:port list).
	EnvBrokers = "TRIB_BROKERS"
	// DefaultBrokers is used when neither --brokers nor TRIB_BROKERS is set.
	DefaultBrokers = "127.0.0.1:9092"
)

// Brokers resolves the seed broker list: flag (if non-empty), else
// $TRIB_BROKERS, else DefaultBrokers. Entries are comma separated; blanks are
// dropped.
func Brokers(flag string) []string {
	s := flag
	if strings.TrimSpace(s) == "" {
		s = os.Getenv(EnvBrokers)
	}
	if strings.TrimSpace(s) == "" {
		s = DefaultBrokers
	}
	var out []string
	for _, b := range strings.Split(s, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// Flags are the connection flags every client tool takes.
type Flags struct {
	Brokers  string
	ClientID string
}

// Register adds --brokers and --client-id to fs.
func (f *Flags) Register(fs *pflag.FlagSet) {
	fs.StringVarP(&f.Brokers, "brokers", "b", "", "comma separated seed brokers host:port (env "+EnvBrokers+", default "+DefaultBrokers+")")
	fs.StringVar(&f.ClientID, "client-id", "trib", "client.id sent to the brokers")
}

// New returns a kgo client for the flags' brokers; opts are appended.
func (f *Flags) New(opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{kgo.SeedBrokers(Brokers(f.Brokers)...), kgo.ClientID(f.ClientID)}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	return cl, nil
}

// Admin returns an admin client and the kgo client under it; closing the
// admin closes both.
func (f *Flags) Admin(opts ...kgo.Opt) (*kadm.Client, error) {
	cl, err := f.New(opts...)
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// ParseKV parses "k=v" into its parts; what names the flag in errors.
func ParseKV(what, s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("%s %q: expected KEY=VALUE", what, s)
	}
	return k, v, nil
}
