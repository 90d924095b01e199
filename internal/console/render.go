package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// view is what every page template gets: the session's user and CSRF
// token, the cluster the page is about (for the tabs), the message left by
// the action that redirected here, and the page's own data in D.
type view struct {
	CSRF    string
	User    string
	Write   bool
	Cluster *database
	Tab     string
	Flash   string
	Error   string
	D       any
}

var funcs = template.FuncMap{
	"path": pathEscape,
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"millis": func(ms int64) string {
		if ms < 0 {
			return "-"
		}
		return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000 UTC")
	},
	"bytes": humanBytes,
	"mib":   func(m uint64) int64 { return int64(m) << 20 },
	"join":  strings.Join,
	"add":   func(a, b int) int { return a + b },
	"sub":   func(a, b int64) int64 { return a - b },
	"seq": func(from, to int) []int {
		var out []int
		for i := from; i <= to; i++ {
			out = append(out, i)
		}
		return out
	},
	"pct": func(a, b int64) int64 {
		if b <= 0 {
			return 100
		}
		return min(100, a*100/b)
	},
}

func pathEscape(s string) string { return url.PathEscape(s) }

func humanBytes(n int64) string {
	if n < 0 {
		return "-"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// parsePages parses each page template with the layout.
func parsePages() map[string]*template.Template {
	pages := map[string]*template.Template{}
	files, err := fs.Glob(assets, "assets/templates/pages/*.html")
	if err != nil || len(files) == 0 {
		panic(fmt.Sprintf("console: no page templates embedded: %v", err))
	}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(assets, "assets/templates/layout.html", "assets/templates/partials.html", f))
	}
	return pages
}

// render writes page with the layout; a template error is logged and
// answered 500 (nothing half-written: the page is rendered to a buffer).
func (c *Console) render(w http.ResponseWriter, r *http.Request, s *session, status int, page string, cl *database, d any) {
	c.renderTemplate(w, r, s, status, page, "layout", cl, d)
}

// fragment writes one named template of page alone (the live parts the
// script refreshes).
func (c *Console) fragment(w http.ResponseWriter, r *http.Request, s *session, page, name string, cl *database, d any) {
	w.Header().Set("Cache-Control", "no-store")
	c.renderTemplate(w, r, s, http.StatusOK, page, name, cl, d)
}

func (c *Console) renderTemplate(w http.ResponseWriter, r *http.Request, s *session, status int, page, name string, cl *database, d any) {
	v := view{Cluster: cl, D: d, Tab: page, Flash: r.URL.Query().Get("flash"), Error: r.URL.Query().Get("error")}
	if s != nil {
		v.CSRF, v.User, v.Write = s.csrf, s.identity.Name, s.identity.Write
	}
	t := c.pages[page]
	if t == nil {
		c.log.Error("console: no such page template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, v); err != nil {
		c.log.Error("console: rendering failed", "page", page, "template", name, "err", err)
		http.Error(w, "internal error while rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

type statusPage struct {
	Title, Message string
}

func (c *Console) renderStatus(w http.ResponseWriter, r *http.Request, s *session, status int, title, msg string) {
	if r.Header.Get("X-Fragment") != "" {
		http.Error(w, msg, status)
		return
	}
	c.render(w, r, s, status, "status", nil, statusPage{Title: title, Message: msg})
}

// fail shows err: an API refusal with its status and message (a token
// the API no longer knows ends the session), anything else as 502.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusUnauthorized:
			c.endSession(s)
			if r.Header.Get("X-Fragment") != "" {
				http.Error(w, "Your session has expired: sign in again.", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		case http.StatusNotFound:
			c.renderStatus(w, r, s, http.StatusNotFound, "Not found", ae.Message+" (the cluster or topic may have been deleted)")
			return
		}
		c.renderStatus(w, r, s, ae.Status, "The request was refused", ae.Message)
		return
	}
	c.renderStatus(w, r, s, http.StatusBadGateway, "The cluster did not answer", err.Error())
}

// back redirects to to after an action, with a message for the page.
func back(w http.ResponseWriter, r *http.Request, to, flash string, err error) {
	q := url.Values{}
	if err != nil {
		q.Set("error", err.Error())
	} else if flash != "" {
		q.Set("flash", flash)
	}
	if len(q) > 0 {
		if strings.Contains(to, "?") {
			to += "&" + q.Encode()
		} else {
			to += "?" + q.Encode()
		}
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}
