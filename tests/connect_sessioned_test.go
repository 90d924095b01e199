package tests

// The "sessioned" connect sub-protocol (KIP-507) with two real workers:
// the group selects it, the leader distributes a session key in the config
// topic (session-key, rotated every inter.worker.key.ttl.ms), the worker
// running a connector forwards its task configs to the leader signed with
// the key, and the leader refuses internal requests that are unsigned
// (400), signed with an unknown algorithm (400) or with another or an
// expired key (403), as Connect does. The test signs its own requests with
// crypto/hmac and the key it reads from the config topic.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestConnectSessioned(t *testing.T) {
	t.Parallel() // see connectNode
	n := connectNode(t)
	ttl := []string{"--set", "inter.worker.key.ttl.ms=1500"}
	w1 := startConnectWorker(t, n.Addr(), ttl...)
	w2 := startConnectWorker(t, n.Addr(), ttl...)
	keys := watchSessionKeys(t, n.Addr())
	adm := newAdmin(t, n.Addr())
	waitFor(t, 30*time.Second, "the group on the sessioned sub-protocol", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		dg, err := adm.DescribeGroups(ctx, "connect-cluster")
		g := dg["connect-cluster"]
		return err == nil && g.State == "Stable" && g.Protocol == "sessioned" && len(g.Members) == 2
	})

	// Two connectors: one runs on each worker, so one of them has its task
	// configs written through a signed forward to the leader.
	dir := t.TempDir()
	for _, c := range []string{"a", "b"} {
		in := filepath.Join(dir, c+".txt")
		writeLines(t, in, c, 0, 10)
		mustCall(t, "PUT", w1.URL+"/connectors/"+c+"/config", fmt.Sprintf(`{"connector.class":"FileStreamSource","file":%q,"topic":%q}`, in, c), 201, nil)
	}
	for _, c := range []string{"a", "b"} {
		waitRunning(t, w1.URL, c, 1)
	}

	// The leader answers a correctly signed internal request with forward=false;
	// the other worker with 409.
	tasksBody := func(c string) []byte {
		var tasks []struct {
			Config map[string]string `json:"config"`
		}
		mustCall(t, "GET", w1.URL+"/connectors/"+c+"/tasks", "", 200, &tasks)
		var configs []map[string]string
		for _, task := range tasks {
			configs = append(configs, task.Config)
		}
		b, _ := json.Marshal(configs)
		return b
	}
	body := tasksBody("a")
	var leader, follower *connectWorker
	waitFor(t, 30*time.Second, "a signed internal request accepted by the leader", func() bool {
		for _, w := range []*connectWorker{w1, w2} {
			if code, _ := postInternal(t, w.URL, "a", body, "HmacSHA256", sign(keys.latest(), body)); code == http.StatusNoContent {
				leader, follower = w, w1
				if w == w1 {
					follower = w2
				}
				return true
			}
		}
		return false
	})
	if code, msg := postInternal(t, follower.URL, "a", body, "HmacSHA256", sign(keys.latest(), body)); code != http.StatusConflict {
		t.Fatalf("the follower answered a forward=false internal request with %d %s, want 409", code, msg)
	}

	// The connector on the follower is reconfigured: its new task configs
	// reach the leader through a signed forward while keys rotate.
	onFollower := ""
	for _, c := range []string{"a", "b"} {
		if st := connectorStatus(t, w1.URL, c); st.Connector.WorkerID == strings.TrimPrefix(follower.URL, "http://") {
			onFollower = c
		}
	}
	if onFollower == "" {
		t.Fatal("no connector runs on the follower")
	}
	mustCall(t, "PUT", w1.URL+"/connectors/"+onFollower+"/config", fmt.Sprintf(`{"connector.class":"FileStreamSource","file":%q,"topic":%q,"batch.size":"7"}`,
		filepath.Join(dir, onFollower+".txt"), onFollower), 200, nil)
	waitFor(t, 30*time.Second, "the follower's new task configs written by the leader", func() bool {
		return bytes.Contains(tasksBody(onFollower), []byte(`"batch.size":"7"`))
	})

	// Forged requests.
	keys.waitCount(t, 3) // the leader has moved past the first key for sure
	bad := make([]byte, 32)
	rand.Read(bad)
	for _, c := range []struct {
		what      string
		alg, sig  string
		want      int
		wantInMsg string
	}{
		{"unsigned", "", "", http.StatusBadRequest, "missing required signature"},
		{"an unknown algorithm", "HmacMD5", sign(keys.latest(), body), http.StatusBadRequest, "HmacMD5"},
		{"a signature that is not base64", "HmacSHA256", "!!", http.StatusBadRequest, "base64"},
		{"another key", "HmacSHA256", sign(bad, body), http.StatusForbidden, "invalid signature"},
		{"the expired first key", "HmacSHA256", sign(keys.first(), body), http.StatusForbidden, "invalid signature"},
		{"the current key over another body", "HmacSHA256", sign(keys.latest(), []byte("[]")), http.StatusForbidden, "invalid signature"},
	} {
		code, msg := postInternal(t, leader.URL, "a", body, c.alg, c.sig)
		if code != c.want || !strings.Contains(msg, c.wantInMsg) {
			t.Errorf("%s: %d %s, want %d with %q", c.what, code, msg, c.want, c.wantInMsg)
		}
	}
	// A forged request sent to the follower (forwarded to the leader
	// without forward=false) is refused all the same.
	if code, _ := postInternalQuery(t, follower.URL, "a", "", body, "HmacSHA256", sign(bad, body)); code != http.StatusForbidden {
		t.Errorf("a forged request through the follower: %d, want 403", code)
	}
	// The internal zombie-fencing request (KIP-618) is signed the same way
	// (over its empty body).
	if code, msg := internalRequest(t, "PUT", leader.URL+"/connectors/a/fence?forward=false", nil, "HmacSHA256", sign(bad, nil)); code != http.StatusForbidden {
		t.Errorf("a forged fencing request: %d %s, want 403", code, msg)
	}
	waitFor(t, 10*time.Second, "a signed fencing request accepted", func() bool {
		code, _ := internalRequest(t, "PUT", leader.URL+"/connectors/a/fence?forward=false", nil, "HmacSHA256", sign(keys.latest(), nil))
		return code == http.StatusNoContent
	})
	for _, c := range []string{"a", "b"} {
		waitRunning(t, w1.URL, c, 1)
	}
}

// sign is X-Connect-Authorization for body under key (HmacSHA256).
func sign(key, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func postInternal(t testing.TB, base, connector string, body []byte, alg, sig string) (int, string) {
	return postInternalQuery(t, base, connector, "?forward=false", body, alg, sig)
}

// postInternalQuery posts task configs to the internal endpoint, signed
// when alg is set.
func postInternalQuery(t testing.TB, base, connector, query string, body []byte, alg, sig string) (int, string) {
	t.Helper()
	return internalRequest(t, "POST", base+"/connectors/"+connector+"/tasks"+query, body, alg, sig)
}

func internalRequest(t testing.TB, method, url string, body []byte, alg, sig string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if alg != "" {
		req.Header.Set("X-Connect-Request-Signature-Algorithm", alg)
		req.Header.Set("X-Connect-Authorization", sig)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sessionKeys follows the config topic's session-key records.
type sessionKeys struct {
	mu   sync.Mutex
	keys [][]byte
}

func watchSessionKeys(t testing.TB, addr string) *sessionKeys {
	s := &sessionKeys{}
	cl := newClient(t, addr, kgo.ConsumeTopics("connect-configs"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
				if string(r.Key) != "session-key" {
					return
				}
				var v struct {
					Key       string `json:"key"`
					Algorithm string `json:"algorithm"`
					Created   int64  `json:"creation-timestamp"`
				}
				if json.Unmarshal(r.Value, &v) != nil || v.Algorithm != "HmacSHA256" || v.Created <= 0 {
					return
				}
				k, err := base64.StdEncoding.DecodeString(v.Key)
				if err != nil || len(k) == 0 {
					return
				}
				s.mu.Lock()
				s.keys = append(s.keys, k)
				s.mu.Unlock()
			})
		}
	}()
	waitFor(t, 30*time.Second, "a session key in the config topic", func() bool { return s.count() > 0 })
	return s
}

func (s *sessionKeys) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

func (s *sessionKeys) first() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[0]
}

func (s *sessionKeys) latest() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[len(s.keys)-1]
}

func (s *sessionKeys) waitCount(t testing.TB, n int) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("%d session keys (rotation)", n), func() bool { return s.count() >= n })
}
