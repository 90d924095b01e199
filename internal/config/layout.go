package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
)

// defaultProtocolMap is Kafka's default listener.security.protocol.map.
const defaultProtocolMap = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"

// Listener is one entry of listeners or advertised.listeners:
// NAME://HOST:PORT. An empty host binds every interface.
type Listener struct {
	Name string
	Host string
	Port int
}

// Addr is HOST:PORT.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

func (l Listener) String() string { return l.Name + "://" + l.Addr() }

// ParseListeners parses a listeners value (NAME://HOST:PORT,...).
func ParseListeners(key, s string) ([]Listener, error) {
	var out []Listener
	for _, part := range splitList(s) {
		name, hp, ok := strings.Cut(part, "://")
		if !ok || name == "" {
			return nil, fmt.Errorf("%s: %q is not NAME://HOST:PORT", key, part)
		}
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %v", key, part, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, fmt.Errorf("%s: %q: bad port", key, part)
		}
		name = strings.ToUpper(name)
		for _, o := range out {
			if o.Name == name {
				return nil, fmt.Errorf("%s: listener name %s appears twice", key, name)
			}
		}
		out = append(out, Listener{Name: name, Host: host, Port: p})
	}
	return out, nil
}

// ReplaceListener returns listeners with the entry named name set to addr
// (HOST:PORT), appended if there is none.
func ReplaceListener(listeners, name, addr string) string {
	var out []string
	found := false
	for _, part := range splitList(listeners) {
		n, _, _ := strings.Cut(part, "://")
		if strings.EqualFold(n, name) {
			part, found = name+"://"+addr, true
		}
		out = append(out, part)
	}
	if !found {
		out = append(out, name+"://"+addr)
	}
	return strings.Join(out, ",")
}

// ParseVoters parses controller.quorum.voters (ID@HOST:PORT,...).
func ParseVoters(s string) (map[int32]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	out := map[int32]string{}
	for _, part := range splitList(s) {
		id, addr, ok := strings.Cut(part, "@")
		n, err := strconv.ParseInt(id, 10, 32)
		if !ok || err != nil || n < 0 {
			return nil, fmt.Errorf("controller.quorum.voters: %q is not ID@HOST:PORT", part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("controller.quorum.voters: %q is not ID@HOST:PORT: %v", part, err)
		}
		if _, dup := out[int32(n)]; dup {
			return nil, fmt.Errorf("controller.quorum.voters: voter %d appears twice", n)
		}
		out[int32(n)] = addr
	}
	return out, nil
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

// securityProtocols are the values of listener.security.protocol.map.
var securityProtocols = []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}

// BrokerListener is one Kafka listener: its name, security protocol, bind
// address and advertised address (empty: the bound one).
type BrokerListener struct {
	Name, Protocol    string
	Listen, Advertise string
}

// Layout is where a node runs, resolved from node.id, process.roles,
// log.dirs, listeners, advertised.listeners, the listener names and the
// controller quorum configs, mapped onto Tributary's node: the broker
// listener (inter.broker.listener.name, PLAINTEXT by default) is the Kafka
// listener; the controller listener (controller.listener.names) carries
// Raft and the controller RPC.
type Layout struct {
	NodeID int32
	// Broker and Controller are process.roles. Every Tributary node is a
	// broker; Controller makes it a metadata quorum voter, else it follows
	// the quorum's log as a non-voter (Kafka's broker-only node).
	Broker, Controller bool
	DataDir            string
	// MetadataDir holds __cluster_metadata-0 (metadata.log.dir, default
	// DataDir).
	MetadataDir string
	// Listeners are the Kafka (non-controller) listeners with their
	// security protocols.
	Listeners []BrokerListener
	// BrokerListener is the inter-broker listener's name; Listen is its
	// bind address.
	BrokerListener string
	Listen         string
	// Advertise is the HOST:PORT clients are told; empty means the bound
	// address (the host name for a listener on every interface, as Kafka).
	Advertise string
	// ControllerListen is the quorum listener's bind address; empty picks
	// a free port on the Kafka listener's host.
	ControllerListen string
	// ControllerAdvertise is the quorum address other nodes dial; empty
	// means the bound address.
	ControllerAdvertise string
	// Voters are the quorum voters; empty makes this node the only voter.
	Voters map[int32]string
	// ControllerName and ControllerProtocol are the controller listener's
	// name (controller.listener.names) and security protocol: PLAINTEXT,
	// or SSL for a quorum transport over mutual TLS with the listener's
	// ssl.* keys.
	ControllerName, ControllerProtocol string
}

// Layout resolves the node's identity, listeners, data dir and quorum as
// Kafka does, and refuses what Tributary cannot run: a controller listener
// whose security protocol is not PLAINTEXT, more than one log directory, a
// controller-only node.
//
// A broker-only node has no controller listener in Kafka; in Tributary it
// still runs a quorum member (a Raft non-voter that receives the metadata
// log), on a free port of the broker listener's host (ControllerListen
// empty).
func (b *Broker) Layout() (Layout, error) {
	var l Layout
	var errs []error
	// failAt reports a problem with key, prefixed with where key was set
	// (file:line, environment variable, flag) when it was.
	failAt := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s"+format, append([]any{b.at(key)}, args...)...))
	}

	// node.id (broker.id is its ZooKeeper-era synonym; both must agree).
	nodeID := b.Int("node.id")
	if bid, ok := b.Explicit("broker.id"); ok {
		n, _ := strconv.ParseInt(bid, 10, 32)
		if nid, ok := b.Explicit("node.id"); ok && nid != bid {
			failAt("node.id", "broker.id=%s and node.id=%s differ; set only node.id", bid, nid)
		}
		nodeID = n
	}
	l.NodeID = int32(nodeID)

	// log.dirs over log.dir; one directory.
	dirs := splitList(b.Get("log.dirs"))
	if len(dirs) == 0 {
		dirs = []string{b.Get("log.dir")}
	}
	if len(dirs) > 1 {
		failAt("log.dirs", "log.dirs lists %d directories (%s); Tributary keeps one log directory per broker (JBOD is not supported): list one", len(dirs), strings.Join(dirs, ","))
	}
	l.DataDir = dirs[0]
	l.MetadataDir = b.Get("metadata.log.dir")
	if l.MetadataDir == "" {
		l.MetadataDir = l.DataDir
	}

	voters, err := ParseVoters(b.Get("controller.quorum.voters"))
	if err != nil {
		failAt("controller.quorum.voters", "%v", err)
	}
	_, selfVoter := voters[l.NodeID]

	// process.roles.
	if v, ok := b.Explicit("process.roles"); ok {
		roles := splitList(v)
		l.Broker, l.Controller = slices.Contains(roles, "broker"), slices.Contains(roles, "controller")
		switch {
		case len(roles) == 0:
			failAt("process.roles", "process.roles is empty (ZooKeeper mode); Tributary runs in KRaft mode only: set process.roles=broker,controller")
		case !l.Broker:
			failAt("process.roles", "process.roles=%s: controller-only nodes are not supported; every Tributary node is a broker (use process.roles=broker,controller)", v)
		case !l.Controller && selfVoter:
			failAt("process.roles", "process.roles=%s, but node.id %d is in controller.quorum.voters: a broker-only node is not a voter (add controller to process.roles, or remove it from the voters)", v, l.NodeID)
		case !l.Controller && len(voters) == 0:
			failAt("process.roles", "process.roles=%s: a broker-only node finds the metadata quorum through controller.quorum.voters (ID@HOST:PORT,...), which is not set", v)
		}
		if l.Controller && len(voters) > 0 && !selfVoter {
			failAt("process.roles", "process.roles contains controller, but node.id %d is not in controller.quorum.voters (%s)", l.NodeID, b.Get("controller.quorum.voters"))
		}
	} else {
		// As Kafka's combined mode when the node is a voter (or there are
		// no voters: a single-node cluster); a broker-only node otherwise.
		l.Broker = true
		l.Controller = len(voters) == 0 || selfVoter
	}

	// Listeners and their security protocols.
	listeners, err := ParseListeners("listeners", b.Get("listeners"))
	if err != nil {
		failAt("listeners", "%v", err)
	}
	advertised, err := ParseListeners("advertised.listeners", b.Get("advertised.listeners"))
	if err != nil {
		failAt("advertised.listeners", "%v", err)
	}
	protoMap := map[string]string{}
	for _, e := range splitList(b.Get("listener.security.protocol.map")) {
		name, proto, ok := strings.Cut(e, ":")
		if !ok {
			failAt("listener.security.protocol.map", "listener.security.protocol.map: %q is not NAME:PROTOCOL", e)
			continue
		}
		protoMap[strings.ToUpper(strings.TrimSpace(name))] = strings.ToUpper(strings.TrimSpace(proto))
	}
	ctlNames := splitList(strings.ToUpper(b.Get("controller.listener.names")))
	if _, set := b.Explicit("listener.security.protocol.map"); !set {
		// As in Kafka, controller listeners missing from the default map
		// are PLAINTEXT.
		for _, n := range ctlNames {
			if _, ok := protoMap[n]; !ok {
				protoMap[n] = "PLAINTEXT"
			}
		}
	}
	var brokerLs, ctlLs []Listener
	for _, ln := range listeners {
		proto, ok := protoMap[ln.Name]
		if !ok {
			failAt("listeners", "listener %s has no security protocol: add %s:PLAINTEXT to listener.security.protocol.map", ln, ln.Name)
			continue
		}
		if !slices.Contains(securityProtocols, proto) {
			failAt("listener.security.protocol.map", "listener %s maps to %s, which is not a security protocol (%s)", ln, proto, strings.Join(securityProtocols, ", "))
			continue
		}
		if slices.Contains(ctlNames, ln.Name) {
			if proto != "PLAINTEXT" && proto != "SSL" {
				failAt("listeners", "controller listener %s uses %s; the metadata quorum's transport is PLAINTEXT or SSL (mutual TLS)", ln, proto)
				continue
			}
			ctlLs = append(ctlLs, ln)
		} else {
			brokerLs = append(brokerLs, ln)
		}
	}
	// The quorum's transport: the first controller listener's protocol,
	// also on a node that dials the controllers without listening as one.
	l.ControllerName, l.ControllerProtocol = "CONTROLLER", "PLAINTEXT"
	if len(ctlNames) > 0 {
		l.ControllerName = ctlNames[0]
		if p, ok := protoMap[ctlNames[0]]; ok {
			l.ControllerProtocol = p
		}
	}
	if l.ControllerProtocol != "PLAINTEXT" && l.ControllerProtocol != "SSL" {
		failAt("listener.security.protocol.map", "controller listener %s maps to %s; the metadata quorum's transport is PLAINTEXT or SSL (mutual TLS)", l.ControllerName, l.ControllerProtocol)
	}
	for _, ln := range advertised {
		if _, ok := protoMap[ln.Name]; !ok {
			failAt("advertised.listeners", "advertised listener %s has no security protocol in listener.security.protocol.map", ln)
		}
		if ip := net.ParseIP(ln.Host); ip != nil && ip.IsUnspecified() {
			failAt("advertised.listeners", "advertised.listeners: %s uses the meta-address %s, which clients cannot connect to", ln, ln.Host)
		}
		if !slices.ContainsFunc(listeners, func(x Listener) bool { return x.Name == ln.Name }) {
			failAt("advertised.listeners", "advertised.listeners: %s names no listener in listeners", ln)
		}
	}

	// The broker listeners; the inter-broker one (inter.broker.listener.name,
	// else the listener named like security.inter.broker.protocol, else the
	// only one) is what replicas fetch from and what --listen replaces.
	ibl, iblSet := b.Explicit("inter.broker.listener.name")
	ibl = strings.ToUpper(ibl)
	if _, ok := b.Explicit("security.inter.broker.protocol"); ok && iblSet {
		failAt("inter.broker.listener.name", "set only one of inter.broker.listener.name and security.inter.broker.protocol")
	}
	if !iblSet {
		ibl = b.Get("security.inter.broker.protocol") // a listener named like the protocol
	}
	switch {
	case len(listeners) > 0 && len(brokerLs) == 0 && len(errs) == 0:
		failAt("listeners", "listeners (%s) has no broker listener: add one, e.g. PLAINTEXT://:9092", b.Get("listeners"))
	case len(brokerLs) > 0:
		if slices.Contains(ctlNames, ibl) {
			failAt("inter.broker.listener.name", "inter.broker.listener.name=%s is a controller listener (controller.listener.names)", ibl)
			break
		}
		inter := -1
		for i, x := range brokerLs {
			if x.Name == ibl {
				inter = i
			}
		}
		switch {
		case inter < 0 && (iblSet || len(brokerLs) > 1):
			key := "inter.broker.listener.name"
			if !iblSet {
				key = "security.inter.broker.protocol"
			}
			failAt(key, "%s=%s is not in listeners (%s): name the listener brokers replicate over", key, ibl, b.Get("listeners"))
		case inter < 0:
			inter = 0
		}
		if inter < 0 {
			break
		}
		for _, x := range brokerLs {
			bl := BrokerListener{Name: x.Name, Protocol: protoMap[x.Name], Listen: x.Addr()}
			for _, a := range advertised {
				if a.Name == x.Name {
					bl.Advertise = a.Addr()
				}
			}
			l.Listeners = append(l.Listeners, bl)
		}
		bl := l.Listeners[inter]
		l.BrokerListener, l.Listen, l.Advertise = bl.Name, bl.Listen, bl.Advertise
	}

	// The controller listener.
	if len(ctlLs) > 0 {
		if !l.Controller {
			failAt("listeners", "listeners has a controller listener (%s) but process.roles has no controller", ctlLs[0])
		}
		c := ctlLs[0]
		l.ControllerListen = c.Addr()
		for _, a := range advertised {
			if a.Name == c.Name {
				l.ControllerAdvertise = a.Addr()
			}
		}
	}
	if addr, ok := voters[l.NodeID]; ok {
		if l.ControllerListen == "" {
			l.ControllerListen = addr
		} else if !samePort(addr, l.ControllerListen) {
			failAt("controller.quorum.voters", "controller.quorum.voters names %s for node %d, but its controller listener is %s", addr, l.NodeID, l.ControllerListen)
		}
		l.ControllerAdvertise = addr
	}
	l.Voters = voters

	// controller.quorum.bootstrap.servers without voters: Kafka's dynamic
	// quorum (KIP-853). Tributary runs the standalone case: this node is
	// the one bootstrap server and the only voter.
	if bs := splitList(b.Get("controller.quorum.bootstrap.servers")); len(voters) == 0 && len(bs) > 0 {
		switch {
		case len(bs) > 1:
			failAt("controller.quorum.bootstrap.servers", "controller.quorum.bootstrap.servers lists %d servers but controller.quorum.voters is not set; Tributary does not support dynamic quorum membership (KIP-853): list the voters as ID@HOST:PORT in controller.quorum.voters", len(bs))
		case !l.Controller:
			failAt("controller.quorum.bootstrap.servers", "controller.quorum.bootstrap.servers without controller.quorum.voters needs process.roles with controller")
		case l.ControllerListen == "":
			failAt("controller.quorum.bootstrap.servers", "controller.quorum.bootstrap.servers=%s, but listeners has no controller listener (controller.listener.names=%s)", bs[0], b.Get("controller.listener.names"))
		case !isSelf(bs[0], l.ControllerListen, l.ControllerAdvertise):
			failAt("controller.quorum.bootstrap.servers", "controller.quorum.bootstrap.servers=%s is not this node's controller listener (%s); joining another node's quorum needs controller.quorum.voters", bs[0], l.ControllerListen)
		default:
			if l.ControllerAdvertise == "" {
				l.ControllerAdvertise = bs[0]
			}
		}
	}
	if l.ControllerAdvertise != "" {
		if h, _, _ := net.SplitHostPort(l.ControllerAdvertise); isUnspecified(h) {
			failAt("advertised.listeners", "the controller's advertised address %s is not an address other nodes can dial: set advertised.listeners or controller.quorum.voters", l.ControllerAdvertise)
		}
	} else if h, p, _ := net.SplitHostPort(l.ControllerListen); l.ControllerListen != "" && isUnspecified(h) {
		l.ControllerAdvertise = net.JoinHostPort("localhost", p)
	}
	return l, errors.Join(errs...)
}

func isUnspecified(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

func samePort(a, b string) bool {
	_, pa, _ := net.SplitHostPort(a)
	_, pb, _ := net.SplitHostPort(b)
	return pa == pb
}

// isSelf reports whether addr plausibly names this node's controller
// listener (same port, and a loopback, unspecified or identical host).
func isSelf(addr, listen, advertise string) bool {
	if addr == advertise {
		return true
	}
	h, p, err := net.SplitHostPort(addr)
	lh, lp, _ := net.SplitHostPort(listen)
	if err != nil || p != lp {
		return false
	}
	if h == lh || isUnspecified(lh) && (h == "localhost" || isLoopback(h)) {
		return true
	}
	name, _ := os.Hostname()
	return isUnspecified(lh) && h == name
}

func isLoopback(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// at is "WHERE: " for a key set explicitly (the file and line, the
// environment variable, the flag), else "".
func (b *Broker) at(key string) string {
	v, ok := b.lookupExplicit(key)
	if !ok {
		return ""
	}
	if v.Where != "" {
		return v.Where + ": "
	}
	return v.Origin.String() + ": "
}
