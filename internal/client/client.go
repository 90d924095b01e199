// Package client holds the logic behind trib's client tools (topic, produce,
// consume, ...): broker-list resolution, client construction on franz-go
// kgo/kadm, and the commands' output formats. cmd/trib only wires flags to it.
package client

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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
	// ConnectTimeout bounds the first request of a tool (a Metadata
	// request): when no seed broker answers within it, the tool fails
	// with the reason instead of retrying for minutes. 0: no bound.
	ConnectTimeout time.Duration
	// CommandConfig is a Kafka client properties file with the security
	// settings (security.protocol, sasl.*, ssl.*); empty means
	// $TRIB_COMMAND_CONFIG, else none (PLAINTEXT).
	CommandConfig string
}

// Register adds --brokers (aliases --bootstrap-server and --broker-list,
// the kafka-*.sh names), --client-id and --connect-timeout to fs.
func (f *Flags) Register(fs *pflag.FlagSet) {
	fs.StringVarP(&f.Brokers, "brokers", "b", "", "comma separated seed brokers host:port (env "+EnvBrokers+", default "+DefaultBrokers+")")
	fs.StringVar(&f.Brokers, "bootstrap-server", "", "same as --brokers (the kafka-*.sh name)")
	fs.StringVar(&f.Brokers, "broker-list", "", "same as --brokers (the old kafka-console-producer.sh name)")
	fs.StringVar(&f.ClientID, "client-id", "trib", "client.id sent to the brokers")
	fs.DurationVar(&f.ConnectTimeout, "connect-timeout", 5*time.Second, "fail when no seed broker answers within this time (0: retry forever)")
	fs.StringVar(&f.CommandConfig, "command-config", "", "Kafka client properties file with security.protocol, sasl.mechanism, sasl.jaas.config, ssl.truststore.location... (env "+EnvCommandConfig+")")
}

// New returns a kgo client for the flags' brokers; opts are appended. It
// checks that a seed broker answers (see ConnectTimeout).
func (f *Flags) New(opts ...kgo.Opt) (*kgo.Client, error) {
	seeds := Brokers(f.Brokers)
	base := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID(f.ClientID)}
	path := f.CommandConfig
	if path == "" {
		path = os.Getenv(EnvCommandConfig)
	}
	if path != "" {
		sec, err := CommandConfig(path)
		if err != nil {
			return nil, err
		}
		base = append(base, sec...)
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("creating client: %w", err)
	}
	if f.ConnectTimeout > 0 {
		if err := ping(cl, seeds, f.ConnectTimeout); err != nil {
			cl.Close()
			return nil, err
		}
	}
	return cl, nil
}

// ping sends a Metadata request for no topics; if no broker answers within
// timeout it returns an error naming the seeds and, when a seed refuses or
// cannot be reached, why.
func ping(cl *kgo.Client, seeds []string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	_, err := req.RequestWith(ctx, cl)
	if err == nil {
		return nil
	}
	why := err
	for _, s := range seeds {
		c, derr := net.DialTimeout("tcp", s, time.Second)
		if derr != nil {
			why = derr
			break
		}
		c.Close()
	}
	return fmt.Errorf("no broker answered at %s (--bootstrap-server or %s; --connect-timeout %v): %w", strings.Join(seeds, ","), EnvBrokers, timeout, why)
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
