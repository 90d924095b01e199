package config

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// Sources are where `trib broker` reads its configuration, from the
// lowest precedence to the highest: defaults, the --config file, TRIB_<KEY>
// environment variables, flags.
type Sources struct {
	// File is the --config properties file; empty for none.
	File string
	// Env is the environment (os.Environ()); only TRIB_<KEY> variables of
	// known broker config names are read (EnvName), so TRIB_BROKERS and
	// other tool variables are left alone.
	Env []string
	// Set are --set KEY=VALUE flags.
	Set []string
	// Flags are dedicated flags as config keys (node.id from --node-id,
	// log.dirs from --data-dir, controller.quorum.voters from
	// --controllers), each with the flag's name for messages.
	Flags map[string]FlagValue
	// Listen, Advertise and ControllerListen are --listen, --advertise and
	// --controller-listen: HOST:PORT for the broker listener in listeners,
	// in advertised.listeners, and for the controller listener.
	Listen, Advertise, ControllerListen string
}

// FlagValue is a dedicated flag's value and its name.
type FlagValue struct{ Value, Flag string }

// Load reads every source and validates the result (LoadBroker).
func Load(src Sources) (*Broker, error) {
	var layers []Layer
	if src.File != "" {
		f, err := os.Open(src.File)
		if err != nil {
			return nil, fmt.Errorf("--config: %w", err)
		}
		vals, lines, err := ParseProperties(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.File, err)
		}
		where := map[string]string{}
		for k, n := range lines {
			where[k] = fmt.Sprintf("%s:%d", src.File, n)
		}
		layers = append(layers, Layer{Origin: OriginFile, Values: vals, Where: where})
	}
	env := Layer{Origin: OriginEnv, Values: map[string]string{}, Where: map[string]string{}}
	envVals := map[string]string{}
	for _, kv := range src.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			envVals[k] = v
		}
	}
	for _, name := range KnownBrokerKeys() {
		if v, ok := envVals[EnvName(name)]; ok {
			env.Values[name], env.Where[name] = v, EnvName(name)
		}
	}
	layers = append(layers, env)
	flags := Layer{Origin: OriginFlag, Values: map[string]string{}, Where: map[string]string{}}
	for _, kv := range src.Set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("--set %q: expected KEY=VALUE", kv)
		}
		flags.Values[k], flags.Where[k] = v, "--set "+k
	}
	for k, fv := range src.Flags {
		flags.Values[k], flags.Where[k] = fv.Value, fv.Flag
	}
	layers = append(layers, flags)

	// The listener flags replace one entry of the merged listeners.
	cur := func(k string) string {
		for i := len(layers) - 1; i >= 0; i-- {
			if v, ok := layers[i].Values[k]; ok {
				return v
			}
		}
		return BrokerDefs[k].Default
	}
	ctlNames := splitList(strings.ToUpper(cur("controller.listener.names")))
	if src.Listen != "" || src.Advertise != "" {
		name := brokerListenerName(cur("listeners"), ctlNames, cur("inter.broker.listener.name"))
		if src.Listen != "" {
			flags.Values["listeners"] = ReplaceListener(cur("listeners"), name, src.Listen)
			flags.Where["listeners"] = "--listen"
		}
		if src.Advertise != "" {
			flags.Values["advertised.listeners"] = ReplaceListener(cur("advertised.listeners"), name, src.Advertise)
			flags.Where["advertised.listeners"] = "--advertise"
		}
	}
	if src.ControllerListen != "" {
		name := "CONTROLLER"
		if len(ctlNames) > 0 {
			name = ctlNames[0]
		}
		flags.Values["listeners"] = ReplaceListener(cur("listeners"), name, src.ControllerListen)
		w := "--controller-listen"
		if src.Listen != "" {
			w = "--listen, --controller-listen"
		}
		flags.Where["listeners"] = w
	}
	return LoadBroker(layers...)
}

// brokerListenerName is the name of the listener --listen replaces: the
// inter-broker listener if named, else the one listener that is not a
// controller listener, else PLAINTEXT.
func brokerListenerName(listeners string, ctlNames []string, interBroker string) string {
	if interBroker != "" {
		return strings.ToUpper(interBroker)
	}
	ls, _ := ParseListeners("listeners", listeners)
	for _, l := range ls {
		isCtl := false
		for _, c := range ctlNames {
			isCtl = isCtl || c == l.Name
		}
		if !isCtl {
			return l.Name
		}
	}
	return "PLAINTEXT"
}

// Print writes every effective broker config as a properties line with
// where it came from (default, file:LINE, env TRIB_<KEY>, flag, dynamic),
// then the set keys that are accepted without effect, with the reason,
// then the resolved node layout. The output is a valid properties file.
func (b *Broker) Print(w io.Writer) error {
	line := func(kv, comment string) {
		fmt.Fprintf(w, "%-56s # %s\n", kv, comment)
	}
	from := func(v Value) string {
		if v.Where != "" {
			return v.Origin.String() + " " + v.Where
		}
		return v.Origin.String()
	}
	for _, name := range b.Names() {
		v := b.Effective(name)
		if BrokerDefs[name].Type == TypePassword && v.Value != "" {
			v.Value = "[hidden]"
		}
		line(name+"="+escapeValue(v.Value), from(v))
	}
	for _, name := range b.ListenerKeys() {
		v := b.explicit[name]
		if isPasswordKey(name) {
			v.Value = "[hidden]"
		}
		line(name+"="+escapeValue(v.Value), from(v))
	}
	if na := b.NotApplicableSet(); len(na) > 0 {
		fmt.Fprintf(w, "\n# Accepted, not applicable to Tributary (docs/CONFIG.md):\n")
		for _, name := range na {
			v := b.notApplicable[name]
			line(name+"="+escapeValue(v.Value), from(v)+"; "+NotApplicable[name])
		}
	}
	l, err := b.Layout()
	if err != nil {
		fmt.Fprintf(w, "\n# Refused at start-up:\n# %s\n", strings.ReplaceAll(err.Error(), "\n", "\n# "))
		return nil
	}
	adv, ctl := l.Advertise, l.ControllerListen
	if adv == "" {
		adv = "the bound address"
	}
	if ctl == "" {
		ctl = "a free port"
	}
	fmt.Fprintf(w, "\n# Resolved: node %d (broker=%v, controller=%v), data dir %s, metadata dir %s,\n", l.NodeID, l.Broker, l.Controller, l.DataDir, l.MetadataDir)
	fmt.Fprintf(w, "# Kafka listener %s on %s advertised as %s, controller listener on %s", l.BrokerListener, l.Listen, adv, ctl)
	if len(l.Voters) == 0 {
		fmt.Fprintf(w, ", the only quorum voter\n")
	} else {
		fmt.Fprintf(w, ", quorum voters %s\n", b.Get("controller.quorum.voters"))
	}
	return nil
}

func escapeValue(v string) string {
	if v == "" {
		return ""
	}
	return strings.NewReplacer("\\", "\\\\", "\n", "\\n").Replace(v)
}
