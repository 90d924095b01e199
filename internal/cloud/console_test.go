package cloud

// The web console's sign-in and request protection, over HTTP against a
// real control plane (store, tokens, API): cookie flags, CSRF refusals,
// wrong and read-only tokens. The pages themselves are driven in a real
// browser by tests/console_test.go.

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func startConsoleServer(t *testing.T) (*Server, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Start(context.Background(), ServerConfig{Listen: "127.0.0.1:0", DataDir: dir,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	b, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	return s, strings.TrimSpace(string(b))
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so each answer is seen as it is.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var (
	formCSRF = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)
	metaCSRF = regexp.MustCompile(`name="csrf-token" content="([0-9a-f]+)"`)
)

func get(t *testing.T, c *http.Client, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// signIn signs c in with token and returns the session's CSRF token.
func signIn(t *testing.T, c *http.Client, base, token string) (*http.Response, string) {
	t.Helper()
	_, page := get(t, c, base+"/login")
	m := formCSRF.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the sign-in page has no CSRF field:\n%s", page)
	}
	resp, _ := post(t, c, base+"/login", url.Values{"csrf": {m[1]}, "token": {token}})
	if resp.StatusCode != http.StatusSeeOther {
		return resp, ""
	}
	_, page = get(t, c, base+"/clusters")
	m = metaCSRF.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the clusters page has no CSRF token:\n%s", page)
	}
	return resp, m[1]
}

func TestConsoleSignInCookie(t *testing.T) {
	s, token := startConsoleServer(t)
	c := browser(t)
	base := s.URL()

	// Not signed in: a page goes to the sign-in form, a fragment is 401.
	resp, _ := get(t, c, base+"/clusters")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
		t.Fatalf("GET /clusters without a session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := get(t, c, base+"/clusters/live", "X-Fragment", "1"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("fragment without a session: %d, want 401", resp.StatusCode)
	}

	resp, csrf := signIn(t, c, base, token)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/clusters" {
		t.Fatalf("sign-in: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "trib_session" {
			session = ck
		}
	}
	if session == nil || session.Value == "" {
		t.Fatalf("sign-in set no session cookie: %v", resp.Header["Set-Cookie"])
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/" {
		t.Fatalf("session cookie flags: HttpOnly=%v SameSite=%v Path=%q, want HttpOnly, Strict, /", session.HttpOnly, session.SameSite, session.Path)
	}
	if strings.Contains(session.Value, token) || strings.Contains(resp.Header.Get("Set-Cookie"), token) {
		t.Fatal("the API token is in the cookie")
	}
	resp, page := get(t, c, base+"/clusters")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "<h1>Clusters</h1>") {
		t.Fatalf("GET /clusters signed in: %d\n%s", resp.StatusCode, page)
	}
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q does not restrict scripts", csp)
	}

	// Sign out needs the CSRF token too; then the session is gone.
	if resp, _ := post(t, c, base+"/logout", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-out without CSRF: %d, want 403", resp.StatusCode)
	}
	if resp, _ := post(t, c, base+"/logout", url.Values{"csrf": {csrf}}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	c.Jar.SetCookies(mustURL(base), []*http.Cookie{session})
	if resp, _ := get(t, c, base+"/clusters"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the old session cookie still works after sign-out: %d", resp.StatusCode)
	}

	// The API beside the console still wants its bearer token.
	if resp, body := get(t, c, base+"/v2/databases"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"unauthorized"`) {
		t.Fatalf("API without a token: %d %s", resp.StatusCode, body)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestConsoleRefusesWrongToken(t *testing.T) {
	s, token := startConsoleServer(t)
	c := browser(t)
	resp, _ := signIn(t, c, s.URL(), token+"x")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("sign-in with a wrong token: %d, want 401", resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "trib_session" && ck.Value != "" {
			t.Fatal("a wrong token got a session cookie")
		}
	}
	if resp, _ := get(t, c, s.URL()+"/clusters"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /clusters after a refused sign-in: %d, want a redirect to the sign-in", resp.StatusCode)
	}
	// The sign-in form itself is CSRF-protected (its cookie and field).
	resp, _ = post(t, browser(t), s.URL()+"/login", url.Values{"token": {token}, "csrf": {"00"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("sign-in without the form's CSRF token: %d, want 403", resp.StatusCode)
	}
}

func TestConsoleCSRF(t *testing.T) {
	s, token := startConsoleServer(t)
	c := browser(t)
	base := s.URL()
	if _, csrf := signIn(t, c, base, token); csrf == "" {
		t.Fatal("no CSRF token")
	}
	form := url.Values{"name": {"csrf-test"}, "num_nodes": {"1"}, "size": {"local"}, "storage_gib": {"1"}}
	for _, bad := range []string{"", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		if bad != "" {
			f.Set("csrf", bad)
		}
		resp, body := post(t, c, base+"/clusters", f)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Fatalf("create with CSRF token %q: %d %s, want 403", bad, resp.StatusCode, body)
		}
	}
	// Nothing was created.
	req, _ := http.NewRequest(http.MethodGet, base+"/v2/databases", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"databases":[]`) {
		t.Fatalf("a request refused for CSRF changed the store: %s", b)
	}
}

func TestConsoleReadOnlyToken(t *testing.T) {
	s, _ := startConsoleServer(t)
	ro, err := CreateToken(context.Background(), s.store, "viewer", "", []string{ScopeRead})
	if err != nil {
		t.Fatal(err)
	}
	c := browser(t)
	resp, csrf := signIn(t, c, s.URL(), ro)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in with a read token: %d", resp.StatusCode)
	}
	if _, page := get(t, c, s.URL()+"/clusters"); strings.Contains(page, `id="create-cluster"`) || !strings.Contains(page, "read only") {
		t.Fatal("a read-only session is offered the create button or not told it is read only")
	}
	resp, body := post(t, c, s.URL()+"/clusters", url.Values{"csrf": {csrf}, "name": {"ro-test"}, "num_nodes": {"1"}, "size": {"local"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "read scope") {
		t.Fatalf("create with a read token: %d %s, want 403", resp.StatusCode, body)
	}
}
