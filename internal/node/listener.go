package node

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/security"
	"github.com/tributary/tributary/internal/server"
)

// listener is one Kafka listener: its socket, advertised address and
// security (TLS config and principal mapping for SSL and SASL_SSL).
type listener struct {
	spec      config.BrokerListener
	ln        net.Listener
	advertise string
	tls       *tls.Config
	rules     security.MappingRules
	srv       *server.Server
}

// openListener binds spec and loads its TLS settings.
func openListener(spec config.BrokerListener, bcfg *config.Broker, log *slog.Logger) (*listener, error) {
	l := &listener{spec: spec}
	switch spec.Protocol {
	case "PLAINTEXT", "":
	case "SSL":
		st, err := security.NewServerTLS(bcfg.ServerTLSOptions(spec.Name), log.With("listener", spec.Name), nil)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", spec.Name, err)
		}
		l.tls = st.Config()
		if l.rules, err = security.ParseMappingRules(bcfg.ListenerGet(spec.Name, "ssl.principal.mapping.rules")); err != nil {
			return nil, fmt.Errorf("listener %s: %w", spec.Name, err)
		}
	default:
		return nil, fmt.Errorf("listener %s: security protocol %s is not served yet (PLAINTEXT and SSL are)", spec.Name, spec.Protocol)
	}
	ln, err := net.Listen("tcp", spec.Listen)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", spec.Name, err)
	}
	l.ln = ln
	l.advertise = spec.Advertise
	if l.advertise == "" {
		l.advertise = ln.Addr().String()
		if h, p, _ := net.SplitHostPort(l.advertise); isUnspecified(h) {
			// As Kafka: a listener on every interface advertises the
			// host name.
			name, err := os.Hostname()
			if err != nil {
				name = "localhost"
			}
			l.advertise = net.JoinHostPort(name, p)
		}
	}
	return l, nil
}

// clientOpts are the options a Kafka client inside this node (a follower
// fetcher, the lag sampler) dials this listener's peers with.
func (l *listener) clientOpts(bcfg *config.Broker) ([]kgo.Opt, error) {
	switch l.spec.Protocol {
	case "SSL":
		cfg, err := security.ClientTLS(bcfg.InterBrokerTLSOptions(l.spec.Name))
		if err != nil {
			return nil, fmt.Errorf("inter-broker listener %s: %w", l.spec.Name, err)
		}
		return []kgo.Opt{kgo.DialTLSConfig(cfg)}, nil
	}
	return nil, nil
}
