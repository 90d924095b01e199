package client

import (
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/tributary/tributary/internal/config"
	"github.com/tributary/tributary/internal/security"
)

// EnvCommandConfig names the environment variable holding the default
// --command-config file.
const EnvCommandConfig = "TRIB_COMMAND_CONFIG"

// clientSecurityKeys are the Kafka client properties --command-config
// reads; other security keys are refused, other keys ignored (they tune a
// Java client).
var clientSecurityKeys = map[string]bool{
	"security.protocol": true, "sasl.mechanism": true, "sasl.jaas.config": true,
	"ssl.truststore.location": true, "ssl.truststore.type": true, "ssl.keystore.location": true,
	"ssl.keystore.type": true, "ssl.key.password": true, "ssl.endpoint.identification.algorithm": true,
	"ssl.enabled.protocols": true, "ssl.protocol": true,
}

// CommandConfig reads a Kafka client properties file (kafka-*.sh
// --command-config) and returns the kgo options for its security
// settings: security.protocol, sasl.mechanism with the username and
// password of sasl.jaas.config, and the PEM trust store and key store.
func CommandConfig(path string) ([]kgo.Opt, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--command-config: %w", err)
	}
	props, _, err := config.ParseProperties(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return SecurityOptions(props, path)
}

// SecurityOptions turns Kafka client security properties into kgo options;
// where names the properties' source in errors.
func SecurityOptions(props map[string]string, where string) ([]kgo.Opt, error) {
	for k := range props {
		if (strings.HasPrefix(k, "ssl.") || strings.HasPrefix(k, "sasl.")) && !clientSecurityKeys[k] {
			return nil, fmt.Errorf("%s: %s is not supported (PEM stores and SASL PLAIN/SCRAM are)", where, k)
		}
	}
	for _, k := range []string{"ssl.truststore.type", "ssl.keystore.type"} {
		if v, ok := props[k]; ok && !strings.EqualFold(v, "PEM") {
			return nil, fmt.Errorf("%s: %s=%s: only PEM files are read", where, k, v)
		}
	}
	proto := strings.ToUpper(props["security.protocol"])
	if proto == "" {
		proto = "PLAINTEXT"
	}
	var opts []kgo.Opt
	switch proto {
	case "PLAINTEXT", "SASL_PLAINTEXT":
	case "SSL", "SASL_SSL":
		o := security.TLSOptions{
			KeystoreLocation:   props["ssl.keystore.location"],
			KeyPassword:        props["ssl.key.password"],
			TruststoreLocation: props["ssl.truststore.location"],
			VerifyHostname:     props["ssl.endpoint.identification.algorithm"] != "",
		}
		if _, set := props["ssl.endpoint.identification.algorithm"]; !set {
			o.VerifyHostname = true // Kafka's default, https
		}
		if v := props["ssl.enabled.protocols"]; v != "" {
			o.EnabledProtocols = strings.Split(v, ",")
		}
		cfg, err := security.ClientTLS(o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	default:
		return nil, fmt.Errorf("%s: security.protocol=%s: use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", where, props["security.protocol"])
	}
	if strings.HasPrefix(proto, "SASL_") {
		mech := strings.ToUpper(props["sasl.mechanism"])
		if mech == "" {
			mech = "GSSAPI" // Kafka's default, which is not offered
		}
		j, err := security.ParseJAAS(props["sasl.jaas.config"])
		if err != nil {
			return nil, fmt.Errorf("%s: sasl.jaas.config: %w", where, err)
		}
		user, pass := j.Options["username"], j.Options["password"]
		if user == "" || pass == "" {
			return nil, fmt.Errorf("%s: sasl.jaas.config needs username and password", where)
		}
		var m sasl.Mechanism
		switch mech {
		case security.MechanismPlain:
			m = plain.Auth{User: user, Pass: pass}.AsMechanism()
		case security.MechanismScramSHA256:
			m = scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
		case security.MechanismScramSHA512:
			m = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
		default:
			return nil, fmt.Errorf("%s: sasl.mechanism=%s: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", where, mech)
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}
