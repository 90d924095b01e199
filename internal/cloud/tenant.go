package cloud

import (
	"context"
	"regexp"
)

// Tenants. Every token belongs to a tenant ("" is the installation's
// default tenant, the admin token's) and every cluster to the tenant of
// the token that created it. An API request carries its token's tenant in
// its context: it lists only that tenant's clusters, and another tenant's
// cluster id is answered as an unknown one (404), so a tenant cannot tell
// it exists. The reconciler's contexts carry no tenant and see every
// cluster. Cluster names are unique per tenant.

type tenantKey struct{}

// withTenant returns ctx carrying the requesting token's tenant.
func withTenant(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenant)
}

// tenantOf is the tenant ctx carries; ok is false for the control
// plane's own work (every tenant's clusters).
func tenantOf(ctx context.Context) (tenant string, ok bool) {
	tenant, ok = ctx.Value(tenantKey{}).(string)
	return tenant, ok
}

// visible reports whether a request with ctx may see cluster c.
func visible(ctx context.Context, c Cluster) bool {
	t, ok := tenantOf(ctx)
	return !ok || t == c.Tenant
}

var validTenant = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidTenant reports whether name may name a tenant ("" is the default
// tenant).
func ValidTenant(name string) bool { return name == "" || validTenant.MatchString(name) }

// installationWide refuses a request of a tenant other than the default
// one: what it reads or changes covers every tenant's clusters (the
// metrics endpoints' credentials).
func installationWide(ctx context.Context) error {
	if t, ok := tenantOf(ctx); ok && t != "" {
		return errorf(KindForbidden, "You do not have access for the attempted action: the metrics endpoints' credentials are the installation's (every tenant's clusters); only the default tenant's tokens may use them.")
	}
	return nil
}
