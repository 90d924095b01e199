package cloud

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tributary/tributary/internal/security"
)

// LocalConfig configures the local provisioner.
type LocalConfig struct {
	// Binary is the trib executable the brokers run (default: this one).
	Binary string
	// Binaries maps a cluster version to the trib build its brokers run;
	// versions not in it run Binary.
	Binaries map[string]string
	// Root holds one directory per cluster, one per broker inside.
	Root string
	// Host is the address brokers listen on and advertise (default 127.0.0.1).
	Host string
	// Settings are broker configs (KEY=VALUE, Kafka's names) every broker
	// gets, before the per-node ones.
	Settings []string
	Logger   *slog.Logger
}

// LocalProvisioner runs each broker as a `trib broker` process on this
// host in its own session (so Ctrl-C of the control plane does not reach
// it), with its pid in <data dir>/broker.pid. Brokers outlive the control
// plane: a restarted control plane finds them by their pid files and
// adopts them.
type LocalProvisioner struct {
	cfg LocalConfig

	mu       sync.Mutex            // guards children and backoff
	children map[int]chan struct{} // pid → closed when the child we started exits (reaped)
	backoff  map[string]restarts   // cluster/node → recent starts
}

// restarts paces the restarts of one broker.
type restarts struct {
	last, next time.Time
	delay      time.Duration
}

// NewLocalProvisioner returns a local provisioner.
func NewLocalProvisioner(cfg LocalConfig) (*LocalProvisioner, error) {
	if cfg.Binary == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cfg.Binary = exe
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &LocalProvisioner{cfg: cfg, children: map[int]chan struct{}{}, backoff: map[string]restarts{}}, nil
}

// Plan picks five free loopback ports per broker (Kafka, quorum, admin,
// metrics endpoint, mTLS Kafka) that no planned node uses.
//
// The ports come from below the kernel's ephemeral range (plannedPorts):
// a node keeps its ports for good, through restarts and rolls, and a port
// in the ephemeral range can meanwhile become the source port of any
// outbound connection on the machine, after which the broker cannot bind
// it. A test's broker was restarted for a minute on "address already in
// use" that way, and its cluster never came online.
func (p *LocalProvisioner) Plan(_ context.Context, c Cluster, ids []int32, taken []Node) ([]Node, error) {
	used := map[string]bool{}
	for _, n := range taken {
		used[n.Listen], used[n.Controller], used[n.Admin], used[n.Metrics], used[n.MTLS] = true, true, true, true, true
	}
	lo, hi := plannedPorts()
	free := func(port int) (string, bool) {
		l, err := net.Listen("tcp", net.JoinHostPort(p.cfg.Host, strconv.Itoa(port)))
		if err != nil {
			return "", false
		}
		a := l.Addr().String()
		l.Close()
		return a, !used[a]
	}
	port := func() (string, error) {
		for range 200 {
			if a, ok := free(lo + rand.IntN(hi-lo+1)); ok {
				used[a] = true
				return a, nil
			}
		}
		for range 100 { // the range is crowded: any free port then
			if a, ok := free(0); ok {
				used[a] = true
				return a, nil
			}
		}
		return "", errors.New("no free port")
	}
	var out []Node
	for _, id := range ids {
		n := Node{ClusterID: c.ID, NodeID: id, State: NodeActive,
			DataDir: filepath.Join(p.cfg.Root, c.ID, fmt.Sprintf("broker-%d", id))}
		var err error
		for _, a := range []*string{&n.Listen, &n.Controller, &n.Admin, &n.Metrics, &n.MTLS} {
			if *a, err = port(); err != nil {
				return nil, err
			}
		}
		out = append(out, n)
	}
	return out, nil
}

// plannedPorts is the range Plan picks ports from: from 10000 to just
// below the ephemeral range of /proc/sys/net/ipv4/ip_local_port_range,
// whose ports the kernel hands out as source ports of outbound
// connections. Without that file (not Linux), or when the range starts too
// low for it, 20000–29999.
func plannedPorts() (lo, hi int) {
	const floor, defLo, defHi = 10000, 20000, 29999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defLo, defHi
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return defLo, defHi
	}
	first, err := strconv.Atoi(f[0])
	if err != nil || first-1-floor < 1000 {
		return defLo, defHi
	}
	return floor, first - 1
}

func pidPath(n Node) string { return filepath.Join(n.DataDir, "broker.pid") }

// pid returns the pid of n's running broker, or 0: the process in n's
// pid file if its command line names n's data dir (pids are reused), else
// a process started with `--data-dir` n's data dir, which is then recorded
// in the pid file. A control plane killed between starting a broker and
// writing its pid file left that broker running unrecorded: the next one
// started a second broker (which failed on the taken ports, and was
// started again and again), and a scale in stopped neither and deleted the
// data dir under the first, which ran on for good.
func (p *LocalProvisioner) pid(n Node) int {
	if pid := p.recordedPid(n); pid != 0 {
		return pid
	}
	pid := brokerByDataDir(filepath.Join(n.DataDir, "data"))
	if pid != 0 {
		p.cfg.Logger.Warn("adopting a broker its pid file does not name", "cluster", n.ClusterID, "node_id", n.NodeID, "pid", pid)
		tmp := pidPath(n) + ".tmp"
		if os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o644) == nil {
			os.Rename(tmp, pidPath(n))
		}
	}
	return pid
}

// recordedPid is the running broker n's pid file names, or 0.
func (p *LocalProvisioner) recordedPid(n Node) int {
	b, err := os.ReadFile(pidPath(n))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	p.mu.Lock()
	exited, ours := p.children[pid]
	p.mu.Unlock()
	if ours {
		select {
		case <-exited:
			return 0
		default:
			return pid
		}
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(filepath.Join(n.DataDir, "data"))) || zombie(pid) {
		return 0
	}
	return pid
}

// brokerByDataDir finds a running process started with `--data-dir dir`
// (a broker's command line, args), or 0.
func brokerByDataDir(dir string) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "--data-dir" && args[i+1] == dir && !zombie(pid) {
				return pid
			}
		}
	}
	return 0
}

// zombie reports whether process pid has exited and waits to be reaped
// (state Z after the command).
func zombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// args are broker n's command line; configFile ("" for none) is its
// security config (secrets stay off the command line, which other local
// users can read). The data dir's size budget is the cluster's disk size.
func (p *LocalProvisioner) args(c Cluster, n Node, voters []Node, configFile string) []string {
	var vs []string
	isVoter := false
	for _, v := range voters {
		vs = append(vs, fmt.Sprintf("%d@%s", v.NodeID, v.Controller))
		isVoter = isVoter || v.NodeID == n.NodeID
	}
	args := []string{"broker", "--node-id", strconv.Itoa(int(n.NodeID)),
		"--controllers", strings.Join(vs, ","),
		"--data-dir", filepath.Join(n.DataDir, "data"), "--set", "admin.listen=" + n.Admin}
	if c.StorageSizeMiB > 0 {
		args = append(args, "--set", fmt.Sprintf("log.dir.max.bytes=%d", c.StorageSizeMiB<<20))
	}
	if configFile != "" {
		args = append(args, "--config", configFile)
	} else {
		args = append(args, "--listen", n.Listen)
	}
	if isVoter {
		args = append(args, "--controller-listen", n.Controller)
	} else {
		// A broker-only node: a Raft non-voter on a port it picks.
		args = append(args, "--set", "process.roles=broker")
	}
	for _, s := range p.cfg.Settings {
		args = append(args, "--set", s)
	}
	// The cluster's own start-time configs (KafkaConfig) last: they are
	// what its users asked for.
	for _, k := range slices.Sorted(maps.Keys(c.BrokerConfig)) {
		args = append(args, "--set", k+"="+c.BrokerConfig[k])
	}
	return args
}

func (p *LocalProvisioner) Ensure(_ context.Context, c Cluster, n Node, voters []Node) (bool, error) {
	if p.pid(n) != 0 {
		return false, nil
	}
	// A broker that keeps exiting is restarted at most every few seconds
	// (doubling up to a minute), not every poll.
	key := n.ClusterID + "/" + strconv.Itoa(int(n.NodeID))
	p.mu.Lock()
	b := p.backoff[key]
	if time.Now().Before(b.next) {
		p.mu.Unlock()
		return false, nil
	}
	if time.Since(b.last) < 30*time.Second {
		b.delay = min(max(2*b.delay, time.Second), time.Minute)
	} else {
		b.delay = 0
	}
	b.last, b.next = time.Now(), time.Now().Add(b.delay)
	p.backoff[key] = b
	p.mu.Unlock()
	if err := os.MkdirAll(n.DataDir, 0o755); err != nil {
		return false, err
	}
	_, err := os.Stat(pidPath(n))
	restarted := err == nil
	configFile, err := p.writeSecurity(c, n, voters)
	if err != nil {
		return false, err
	}
	logf, err := os.OpenFile(filepath.Join(n.DataDir, "broker.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return false, err
	}
	defer logf.Close()
	bin := p.cfg.Binary
	if b, ok := p.cfg.Binaries[c.Version]; ok {
		bin = b
	}
	cmd := exec.Command(bin, p.args(c, n, voters, configFile)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("start broker %d: %w", n.NodeID, err)
	}
	exited := make(chan struct{})
	p.mu.Lock()
	p.children[cmd.Process.Pid] = exited
	p.mu.Unlock()
	// safe: only reaps the child; Wait does not panic.
	go func() {
		cmd.Wait()
		close(exited)
	}()
	tmp := pidPath(n) + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return restarted, err
	}
	if err := os.Rename(tmp, pidPath(n)); err != nil {
		return restarted, err
	}
	p.cfg.Logger.Info("broker started", "cluster", c.ID, "node_id", n.NodeID, "pid", cmd.Process.Pid, "listen", n.Listen, "version", c.Version, "binary", bin)
	return restarted, nil
}

// writeSecurity writes a secure cluster's broker files into n's dir: the
// cluster CA (truststore), a certificate issued now (keystore) and the
// broker's security config, all mode 0600. It returns the config's path,
// "" for a PLAINTEXT cluster.
func (p *LocalProvisioner) writeSecurity(c Cluster, n Node, voters []Node) (string, error) {
	if !c.Secure() {
		return "", nil
	}
	quorumTLS := quorumOnTLS(voters)
	ks, err := brokerKeystore(c, n)
	if err != nil {
		return "", err
	}
	keystore, truststore := filepath.Join(n.DataDir, "broker.pem"), filepath.Join(n.DataDir, "ca.pem")
	if err := security.WriteKeystore(keystore, ks); err != nil {
		return "", err
	}
	if err := security.WriteKeystore(truststore, []byte(c.CACert)); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("# Written by trib cloud for this broker; rewritten on every start.\n")
	for _, s := range brokerSecuritySettings(c, n, keystore, truststore, quorumTLS) {
		b.WriteString(s + "\n")
	}
	path := filepath.Join(n.DataDir, "broker.properties")
	return path, security.WriteKeystore(path, []byte(b.String()))
}

// quorumOnTLS reports whether a secure cluster's quorum runs over mutual
// TLS (CONTROLLER:SSL): yes for a new cluster; a cluster whose first
// voter already has a config without it (made before quorum TLS) keeps
// its PLAINTEXT quorum, since members on different protocols cannot
// talk and a rolling restart would break the quorum.
func quorumOnTLS(voters []Node) bool {
	if len(voters) == 0 {
		return true
	}
	b, err := os.ReadFile(filepath.Join(voters[0].DataDir, "broker.properties"))
	if err != nil {
		return true // not written yet: a new cluster
	}
	return strings.Contains(string(b), quorumTLSSetting)
}

// Stop sends SIGTERM (the broker's controlled shutdown) and waits up to
// 30s, then SIGKILLs; or SIGKILLs at once.
func (p *LocalProvisioner) Stop(ctx context.Context, n Node, graceful bool) error {
	pid := p.pid(n)
	if pid == 0 {
		return nil
	}
	if graceful {
		syscall.Kill(pid, syscall.SIGTERM)
	} else {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(30 * time.Second)
	for p.pid(n) != 0 {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			deadline = time.Now().Add(10 * time.Second)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	p.cfg.Logger.Info("broker stopped", "cluster", n.ClusterID, "node_id", n.NodeID, "pid", pid)
	return nil
}

func (p *LocalProvisioner) Destroy(_ context.Context, n Node) error {
	if p.pid(n) != 0 {
		return fmt.Errorf("broker %d still runs", n.NodeID)
	}
	if err := os.RemoveAll(n.DataDir); err != nil {
		return err
	}
	os.Remove(filepath.Dir(n.DataDir)) // the cluster's directory, once empty
	return nil
}
