package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/tributary/tributary/internal/client"
	"github.com/tributary/tributary/internal/security"
)

// Users and ACLs: the API's users (SCRAM credentials with DigitalOcean's
// simple ACLs, which the control plane compiles to Kafka ACLs), a wizard
// that previews the Kafka ACLs a grant makes before applying it, and the
// cluster's own ACL list read with DescribeAcls.

type user struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Password string `json:"password"`
	Settings *struct {
		ACL []UserACL `json:"acl"`
	} `json:"settings"`
}

func (u user) ACL() []UserACL {
	if u.Settings == nil {
		return nil
	}
	return u.Settings.ACL
}

func (c apiClient) users(ctx context.Context, token, id string) ([]user, error) {
	var out struct {
		Users []user `json:"users"`
	}
	err := c.do(ctx, token, http.MethodGet, clusterAPI(id, "users"), nil, &out)
	return out.Users, err
}

func (c apiClient) user(ctx context.Context, token, id, name string) (user, error) {
	var out struct {
		User user `json:"user"`
	}
	err := c.do(ctx, token, http.MethodGet, clusterAPI(id, "users", pathEscape(name)), nil, &out)
	return out.User, err
}

type usersData struct {
	Users []user
	Err   string
}

func (c *Console) usersPage(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	d := usersData{}
	us, err := c.api.users(r.Context(), s.token, db.ID)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
			c.fail(w, r, s, err)
			return
		}
		d.Err = err.Error()
	}
	d.Users = us
	c.render(w, r, s, http.StatusOK, "users", &db, d)
}

func (c *Console) createUser(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	name := strings.TrimSpace(r.PostFormValue("name"))
	err := c.api.do(r.Context(), s.token, http.MethodPost, clusterAPI(id, "users"), map[string]any{"name": name}, nil)
	back(w, r, clusterPath(id, "users"), "User "+name+" created: give it access with the ACL wizard.", err)
}

func (c *Console) resetUser(w http.ResponseWriter, r *http.Request, s *session) {
	id, name := r.PathValue("id"), r.PathValue("user")
	err := c.api.do(r.Context(), s.token, http.MethodPost, clusterAPI(id, "users", pathEscape(name), "reset_auth"), struct{}{}, nil)
	back(w, r, clusterPath(id, "users"), "User "+name+" has a new password.", err)
}

func (c *Console) deleteUser(w http.ResponseWriter, r *http.Request, s *session) {
	id, name := r.PathValue("id"), r.PathValue("user")
	if r.PostFormValue("confirm") != name {
		back(w, r, clusterPath(id, "users"), "", fmt.Errorf("type the user's name, %s, to confirm its deletion", name))
		return
	}
	err := c.api.do(r.Context(), s.token, http.MethodDelete, clusterAPI(id, "users", pathEscape(name)), nil, nil)
	back(w, r, clusterPath(id, "users"), "User "+name+" deleted.", err)
}

func (c *Console) deleteUserACL(w http.ResponseWriter, r *http.Request, s *session) {
	id, name, aclID := r.PathValue("id"), r.PathValue("user"), r.PathValue("acl")
	u, err := c.api.user(r.Context(), s.token, id, name)
	if err != nil {
		back(w, r, clusterPath(id, "users"), "", err)
		return
	}
	acl := slices.DeleteFunc(u.ACL(), func(a UserACL) bool { return a.ID == aclID })
	err = c.api.do(r.Context(), s.token, http.MethodPut, clusterAPI(id, "users", pathEscape(name)),
		map[string]any{"settings": map[string]any{"acl": acl}}, nil)
	back(w, r, clusterPath(id, "users"), "ACL removed from "+name+".", err)
}

// The wizard's roles, each one of DigitalOcean's permissions.
var wizardRoles = []struct{ Value, Label string }{
	{"produce", "Producer: write to the topics"},
	{"consume", "Consumer: read the topics (any consumer group)"},
	{"produceconsume", "Producer and consumer"},
	{"admin", "Admin of the topics: everything, including create, delete and configs"},
}

type aclWizardData struct {
	Users   []user
	User    string
	NewUser string
	Role    string
	Topic   string
	Prefix  bool
	Roles   []struct{ Value, Label string }
	// Grant and Preview are set once the form is complete: the ACL to
	// add and the Kafka ACLs it makes.
	Grant   *UserACL
	Exists  bool
	Preview []string
	Err     string
}

var grantTopic = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// aclWizard shows the wizard; with a complete form (the URL holds it) it
// previews the Kafka ACLs the grant will create.
func (c *Console) aclWizard(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	q := r.URL.Query()
	d := aclWizardData{User: q.Get("user"), NewUser: strings.TrimSpace(q.Get("new_user")), Role: q.Get("role"),
		Topic: strings.TrimSpace(q.Get("topic")), Prefix: q.Get("prefix") != "", Roles: wizardRoles}
	us, err := c.api.users(r.Context(), s.token, db.ID)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	for _, u := range us {
		if u.Role != "primary" {
			d.Users = append(d.Users, u)
		}
	}
	if q.Has("role") {
		name := d.User
		if d.NewUser != "" {
			name = d.NewUser
		}
		grant, err := wizardGrant(name, d.Role, d.Topic, d.Prefix)
		if err != nil {
			d.Err = err.Error()
		} else {
			d.Grant = &grant
			for _, u := range us {
				if u.Name == name {
					d.Exists = true
				}
			}
			if d.NewUser != "" {
				d.User = d.NewUser
			}
			if c.cfg.PreviewACLs != nil {
				d.Preview = c.cfg.PreviewACLs(name, []UserACL{grant})
			}
		}
	}
	c.render(w, r, s, http.StatusOK, "aclwizard", &db, d)
}

// wizardGrant checks the wizard's answers and returns the ACL to add.
func wizardGrant(userName, role, topic string, prefix bool) (UserACL, error) {
	if userName == "" {
		return UserACL{}, errors.New("choose a user or name a new one")
	}
	if !slices.ContainsFunc(wizardRoles, func(x struct{ Value, Label string }) bool { return x.Value == role }) {
		return UserACL{}, fmt.Errorf("choose what the user may do (not %q)", role)
	}
	switch {
	case topic == "*":
	case grantTopic.MatchString(topic):
		if prefix {
			topic += "*"
		}
	default:
		return UserACL{}, fmt.Errorf("the topic %q is not a topic name or prefix (a-z A-Z 0-9 . _ -), or * for every topic", topic)
	}
	return UserACL{Topic: topic, Permission: role}, nil
}

// applyACL adds the wizard's grant: to an existing user's ACLs, or as
// a new user's first.
func (c *Console) applyACL(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	name := strings.TrimSpace(r.PostFormValue("user"))
	grant, err := wizardGrant(name, r.PostFormValue("role"), strings.TrimSpace(r.PostFormValue("topic")), r.PostFormValue("prefix") != "")
	wizard := clusterPath(id, "acls", "new") + "?" + url.Values{"user": {name}}.Encode()
	if err != nil {
		back(w, r, wizard, "", err)
		return
	}
	u, err := c.api.user(r.Context(), s.token, id, name)
	var ae *apiError
	switch {
	case err == nil:
		acl := u.ACL()
		for _, a := range acl {
			if a.Topic == grant.Topic && a.Permission == grant.Permission {
				back(w, r, clusterPath(id, "acls"), name+" already has "+grant.Permission+" on "+grant.Topic+".", nil)
				return
			}
		}
		acl = append(acl, grant)
		err = c.api.do(r.Context(), s.token, http.MethodPut, clusterAPI(id, "users", pathEscape(name)),
			map[string]any{"settings": map[string]any{"acl": acl}}, nil)
	case errors.As(err, &ae) && ae.Status == http.StatusNotFound:
		err = c.api.do(r.Context(), s.token, http.MethodPost, clusterAPI(id, "users"),
			map[string]any{"name": name, "settings": map[string]any{"acl": []UserACL{grant}}}, nil)
	}
	if err != nil {
		back(w, r, wizard, "", err)
		return
	}
	back(w, r, clusterPath(id, "acls"), fmt.Sprintf("%s may now %s %s.", name, grant.Permission, grant.Topic), nil)
}

type aclsData struct {
	Listing string
	Err     string
}

// aclsPage lists the cluster's Kafka ACLs, as DescribeAcls returns them.
func (c *Console) aclsPage(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	d := aclsData{}
	kc, err := c.kafka.get(db)
	if err == nil {
		ctx, cancel := context.WithTimeout(r.Context(), kafkaTimeout)
		defer cancel()
		var out strings.Builder
		all := security.Filter{ResourceType: security.ResourceAny, PatternType: security.PatternAny, Operation: security.OpAny, Permission: security.PermissionAny}
		if err = client.ListACLs(ctx, kc.cl, []security.Filter{all}, &out); err == nil {
			d.Listing = out.String()
		}
	}
	if err != nil {
		d.Err = errKafka("describe ACLs", err).Error()
	}
	c.render(w, r, s, http.StatusOK, "acls", &db, d)
}

// caPEM downloads the cluster's CA certificate.
func (c *Console) caPEM(w http.ResponseWriter, r *http.Request, s *session) {
	db, ok := c.loadCluster(w, r, s)
	if !ok {
		return
	}
	if len(db.CA) == 0 {
		c.renderStatus(w, r, s, http.StatusNotFound, "No CA", "This cluster serves no TLS, so it has no CA certificate.")
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="ca.pem"`)
	w.Write(db.CA)
}
