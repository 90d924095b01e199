package cloud

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/security"
)

// Cluster security. Every cluster gets its own CA when it is created; its
// brokers serve a SASL_SSL listener (a certificate the CA signs for the
// listen host; SCRAM-SHA-256/512 for users, PLAIN only for the control
// plane's own user) and an mTLS listener for users' client certificates
// (below), with Kafka's StandardAuthorizer on (deny by default).
//
// The control plane connects as controlUser, the only super user, whose
// password exists only as PlainLoginModule's user_ entry in each broker's
// config file (mode 0600): it needs no SCRAM credential, so a new cluster
// is reachable before any user exists. The brokers replicate over the
// same listener as that user. Users (doadmin and those the API makes)
// are SCRAM credentials in the cluster's metadata with ACLs compiled from
// DigitalOcean's simple form (users.go).

// controlUser is the control plane's principal on its clusters. A user
// name the API accepts never starts with "_", so no API user can take it.
const controlUser = "_trib"

// primaryUser is DigitalOcean's primary user, made with the cluster.
const primaryUser = "doadmin"

// caValidity is how long a cluster's CA is valid; brokerCertValidity a
// broker's certificate (reissued on every broker start).
const (
	caValidity         = 10 * 365 * 24 * time.Hour
	brokerCertValidity = 365 * 24 * time.Hour
)

// newPassword returns a random password (24 URL-safe characters).
func newPassword() string {
	var b [18]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// newClusterSecrets gives c its CA and the control plane's password.
func newClusterSecrets(c *Cluster) error {
	ca, err := security.NewCA("Tributary cluster "+c.Name+" ("+c.ID+") CA", caValidity)
	if err != nil {
		return err
	}
	key, err := ca.KeyPEM()
	if err != nil {
		return err
	}
	c.CACert, c.CAKey, c.ControlPassword = string(ca.PEM), string(key), newPassword()
	return nil
}

// brokerKeystore issues broker n's certificate (for its listen host and
// localhost) as a PEM keystore.
func brokerKeystore(c Cluster, n Node) ([]byte, error) {
	ca, err := security.ParseCA([]byte(c.CACert), []byte(c.CAKey))
	if err != nil {
		return nil, fmt.Errorf("cluster %s CA: %w", c.ID, err)
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	for _, addr := range []string{n.Listen, n.Controller} {
		if h, _, err := net.SplitHostPort(addr); err == nil && h != "" && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return ca.Issue(pkix.Name{CommonName: fmt.Sprintf("broker-%d.%s", n.NodeID, c.ID), Organization: []string{"Tributary"}},
		hosts, brokerCertValidity)
}

// User certificates. Every user also gets a client certificate the
// cluster's CA signs (subject CN=<user>,OU=<certificate id>,O=Tributary)
// for the brokers' second listener, SSL with ssl.client.auth=required
// (mtlsListener). Its ssl.principal.mapping.rules, a cluster-wide
// dynamic broker config the control plane keeps in step with the store
// (syncUsers), has one rule per user mapping exactly that user's current
// subject to User:<user>, so the user's ACLs apply as they do over SASL;
// a subject no rule maps (a broker's certificate, a certificate that
// reset_auth replaced, a deleted user's) is refused at the handshake.

// mtlsListener is the lower-case name of the brokers' mTLS listener.
const mtlsListener = "ssl"

// mtlsRulesKey is the mTLS listener's principal mapping rules.
const mtlsRulesKey = "listener.name." + mtlsListener + "." + config.PrincipalMappingRulesKey

// noUserRule is the mTLS listener's mapping when no user has a
// certificate: it maps only an empty subject, which the cluster's CA
// never signs, so every certificate is refused. (An empty value would be
// DEFAULT, which maps every subject.)
const noUserRule = `RULE:^$/ANONYMOUS/`

// userCertValidity is how long a user's certificate is valid.
const userCertValidity = 2 * 365 * 24 * time.Hour

// userSubject is the certificate subject of user name with certificate
// id certID.
func userSubject(name, certID string) pkix.Name {
	return pkix.Name{CommonName: name, OrganizationalUnit: []string{certID}, Organization: []string{"Tributary"}}
}

// issueUserCert gives u a new client certificate and key from c's CA
// (replacing any it had).
func issueUserCert(c Cluster, u *User) error {
	ca, err := security.ParseCA([]byte(c.CACert), []byte(c.CAKey))
	if err != nil {
		return fmt.Errorf("cluster %s CA: %w", c.ID, err)
	}
	var id [8]byte
	rand.Read(id[:])
	ks, err := ca.Issue(userSubject(u.Name, hex.EncodeToString(id[:])), nil, userCertValidity)
	if err != nil {
		return err
	}
	// The keystore is the key, the certificate, then the CA's.
	var key, cert []byte
	for rest := ks; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		switch {
		case b.Type == "PRIVATE KEY":
			key = pem.EncodeToMemory(b)
		case b.Type == "CERTIFICATE" && cert == nil:
			cert = pem.EncodeToMemory(b)
		}
	}
	if key == nil || cert == nil {
		return errors.New("issued keystore without a key and a certificate")
	}
	u.AccessCert, u.AccessKey = string(cert), string(key)
	return nil
}

// mtlsRules is the mTLS listener's ssl.principal.mapping.rules for
// users: one rule per active user with a certificate, matching exactly
// its subject (RFC 2253, as the broker reads it).
func mtlsRules(users []User) string {
	var rules []string
	for _, u := range users {
		if u.State != UserActive || u.AccessCert == "" {
			continue
		}
		b, _ := pem.Decode([]byte(u.AccessCert))
		if b == nil {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			continue
		}
		// A user name is letters, digits, '.', '_' and '-': no '/', ','
		// or '$' to escape in a rule.
		rules = append(rules, "RULE:"+regexp.QuoteMeta(security.SubjectName(cert))+"/"+u.Name+"/")
	}
	if len(rules) == 0 {
		return noUserRule
	}
	return strings.Join(rules, ",")
}

// jaasQuote quotes a JAAS option value.
func jaasQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// quorumTLSSetting puts the quorum (Raft and the controller RPC) on
// mutual TLS: each broker's certificate from the cluster's CA, as server
// and client, verified against the CA.
const quorumTLSSetting = "listener.security.protocol.map=CONTROLLER:SSL,SASL_SSL:SASL_SSL"

// brokerSecuritySettings are the broker configs (Kafka's names) of a
// secure cluster's broker n whose keystore and truststore are at the
// paths given; quorumTLS puts its controller listener on SSL. A broker
// with an mTLS address gets the mTLS listener (SSL, client certificates
// required; its mapping rules come from the cluster's dynamic config,
// noUserRule until then).
func brokerSecuritySettings(c Cluster, n Node, keystore, truststore string, quorumTLS bool) []string {
	pw := jaasQuote(c.ControlPassword)
	listeners := "listeners=SASL_SSL://" + n.Listen
	var quorum, mtls []string
	if n.MTLS != "" {
		listeners += ",SSL://" + n.MTLS
		mtls = []string{"listener.name." + mtlsListener + ".ssl.client.auth=required", mtlsRulesKey + "=" + noUserRule}
	}
	if quorumTLS {
		m := quorumTLSSetting
		if n.MTLS != "" {
			m += ",SSL:SSL"
		}
		quorum = []string{m}
	}
	return append(append(quorum, mtls...),
		listeners,
		"inter.broker.listener.name=SASL_SSL",
		"ssl.keystore.location="+keystore,
		"ssl.truststore.location="+truststore,
		"sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
		"sasl.mechanism.inter.broker.protocol=PLAIN",
		"listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="+
			jaasQuote(controlUser)+" password="+pw+" user_"+controlUser+"="+pw+";",
		"authorizer.class.name="+config.StandardAuthorizer,
		"super.users="+security.UserPrincipal(controlUser),
	)
}

// clusterTLS is a TLS client config that trusts only c's CA.
func clusterTLS(c Cluster) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(c.CACert)) {
		return nil, errors.New("the cluster's CA certificate is not PEM")
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// controlClientOpts are the Kafka client options the control plane uses
// on c: TLS trusting c's CA and SASL PLAIN as controlUser.
func controlClientOpts(c Cluster) ([]kgo.Opt, error) {
	if !c.Secure() {
		return nil, nil
	}
	cfg, err := clusterTLS(c)
	if err != nil {
		return nil, err
	}
	return []kgo.Opt{kgo.DialTLSConfig(cfg), kgo.SASL(plain.Auth{User: controlUser, Pass: c.ControlPassword}.AsMechanism())}, nil
}
