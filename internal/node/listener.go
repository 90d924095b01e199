package node

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/metadata"
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
	// auth is the SASL server side (SASL_PLAINTEXT, SASL_SSL); its
	// credentials are the broker's, set once the broker exists.
	auth *security.Authenticator
	// maxReauth is the listener's connections.max.reauth.ms.
	maxReauth int64
	srv       *server.Server
}

// openListener binds spec and loads its TLS settings.
func openListener(spec config.BrokerListener, bcfg *config.Broker, log *slog.Logger) (*listener, error) {
	l := &listener{spec: spec}
	switch spec.Protocol {
	case "SASL_PLAINTEXT", "SASL_SSL":
		l.auth = &security.Authenticator{Enabled: splitList(bcfg.ListenerGet(spec.Name, "sasl.enabled.mechanisms"))}
		if j, ok := bcfg.ListenerJAAS(spec.Name, security.MechanismPlain); ok {
			l.auth.PlainUsers = j.PlainUsers()
		}
		l.maxReauth, _ = strconv.ParseInt(bcfg.ListenerGet(spec.Name, "connections.max.reauth.ms"), 10, 64)
	}
	switch spec.Protocol {
	case "PLAINTEXT", "SASL_PLAINTEXT", "":
	case "SSL", "SASL_SSL":
		st, err := security.NewServerTLS(bcfg.ServerTLSOptions(spec.Name), log.With("listener", spec.Name), nil)
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", spec.Name, err)
		}
		l.tls = st.Config()
		if l.rules, err = security.ParseMappingRules(bcfg.ListenerGet(spec.Name, "ssl.principal.mapping.rules")); err != nil {
			return nil, fmt.Errorf("listener %s: %w", spec.Name, err)
		}
	default:
		return nil, fmt.Errorf("listener %s: unknown security protocol %s", spec.Name, spec.Protocol)
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

// clientOpts are the kgo options for a connection secured by tlsCfg and
// mech (either nil: none).
func clientOpts(tlsCfg *tls.Config, mech sasl.Mechanism) []kgo.Opt {
	var opts []kgo.Opt
	if tlsCfg != nil {
		opts = append(opts, kgo.DialTLSConfig(tlsCfg))
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts
}

// clientSecurity is how a Kafka client inside this node (a follower
// fetcher, transaction markers, the lag sampler) dials this listener's
// peers: its TLS config and SASL mechanism (nil when it has none). With
// SASL, the mechanism is sasl.mechanism.inter.broker.protocol and the user
// the username and password of the listener's JAAS config for it
// (listener.name.<l>.<mechanism>.sasl.jaas.config), as in Kafka.
func (l *listener) clientSecurity(bcfg *config.Broker) (*tls.Config, sasl.Mechanism, error) {
	var tlsCfg *tls.Config
	switch l.spec.Protocol {
	case "SSL", "SASL_SSL":
		cfg, err := security.ClientTLS(bcfg.InterBrokerTLSOptions(l.spec.Name))
		if err != nil {
			return nil, nil, fmt.Errorf("inter-broker listener %s: %w", l.spec.Name, err)
		}
		tlsCfg = cfg
	}
	switch l.spec.Protocol {
	case "SASL_PLAINTEXT", "SASL_SSL":
		mech := bcfg.Get("sasl.mechanism.inter.broker.protocol")
		j, ok := bcfg.ListenerJAAS(l.spec.Name, mech)
		user, pass := j.Options["username"], j.Options["password"]
		if !ok || user == "" || pass == "" {
			return nil, nil, fmt.Errorf("inter-broker listener %s uses SASL %s: set username and password in listener.name.%s.%s.sasl.jaas.config",
				l.spec.Name, mech, strings.ToLower(l.spec.Name), strings.ToLower(mech))
		}
		m, err := clientMechanism(mech, user, pass)
		if err != nil {
			return nil, nil, err
		}
		return tlsCfg, m, nil
	}
	return tlsCfg, nil, nil
}

// clientMechanism is franz-go's client side of a SASL mechanism.
func clientMechanism(mech, user, pass string) (sasl.Mechanism, error) {
	switch mech {
	case security.MechanismPlain:
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case security.MechanismScramSHA256:
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	case security.MechanismScramSHA512:
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("unknown SASL mechanism %q", mech)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// EnsureScramUser stores SCRAM-SHA-256 and -512 credentials for user with
// password unless the user has both already (trib dev --secure's super
// user, created before any client can authenticate to create it).
func (n *Node) EnsureScramUser(ctx context.Context, user, password string, iterations int32) error {
	st := n.Quorum.State()
	var cmd metadata.AlterScram
	for _, mech := range []string{security.MechanismScramSHA256, security.MechanismScramSHA512} {
		if _, ok := st.ScramCredential(user, mech); ok {
			continue
		}
		salt := make([]byte, 24)
		if _, err := rand.Read(salt); err != nil {
			return err
		}
		salted, err := security.SaltPassword(mech, password, salt, iterations)
		if err != nil {
			return err
		}
		c, err := security.ScramFromSalted(mech, salt, salted, iterations)
		if err != nil {
			return err
		}
		cmd.Upserts = append(cmd.Upserts, metadata.ScramUpsert{User: user, Mechanism: mech, Credential: c})
	}
	if len(cmd.Upserts) == 0 {
		return nil
	}
	res, err := n.Quorum.Propose(ctx, &metadata.Command{AlterScram: &cmd})
	if err != nil {
		return err
	}
	if err := res.Error(); err != nil {
		return err
	}
	return n.Quorum.WaitApplied(ctx, res.Index)
}

// quorumTLS are the controller listener's TLS configs for an SSL quorum
// transport: the server side always requires and verifies the peer's
// certificate (whatever ssl.client.auth says: the transport has no other
// authentication), the client side presents this node's keystore and
// verifies the peer against the truststore.
func quorumTLS(bcfg *config.Broker, name string, log *slog.Logger) (server, client *tls.Config, err error) {
	opts := bcfg.ServerTLSOptions(name)
	opts.ClientAuth = "required"
	if opts.TruststoreLocation == "" {
		return nil, nil, fmt.Errorf("controller listener %s on SSL: set ssl.truststore.location (the quorum's members verify each other)", name)
	}
	st, err := security.NewServerTLS(opts, log.With("listener", name), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("controller listener %s: %w", name, err)
	}
	if client, err = security.ClientTLS(bcfg.InterBrokerTLSOptions(name)); err != nil {
		return nil, nil, fmt.Errorf("controller listener %s: %w", name, err)
	}
	return st.Config(), client, nil
}
