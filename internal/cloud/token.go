package cloud

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// Token scopes, as DigitalOcean names them: read for GET, write for the
// rest (write includes read).
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
)

func hashToken(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// CreateToken makes a token of tenant ("" for the default tenant) with
// the given scopes and returns its secret, which is not stored (only its
// SHA-256 is).
func CreateToken(ctx context.Context, st Store, name, tenant string, scopes []string) (string, error) {
	if !ValidTenant(tenant) {
		return "", fmt.Errorf("invalid tenant %q: up to 63 lower-case letters, digits, '_' and '-', starting with a letter or digit", tenant)
	}
	if len(scopes) == 0 {
		return "", fmt.Errorf("a token needs a scope (%s, %s)", ScopeRead, ScopeWrite)
	}
	for _, sc := range scopes {
		if sc != ScopeRead && sc != ScopeWrite {
			return "", fmt.Errorf("unknown scope %q (%s, %s)", sc, ScopeRead, ScopeWrite)
		}
	}
	var b [32]byte
	rand.Read(b[:])
	secret := "trib_" + hex.EncodeToString(b[:])
	t := Token{ID: newID(), Name: name, Hash: hashToken(secret), Scopes: scopes, Tenant: tenant}
	if err := st.CreateToken(ctx, t); err != nil {
		return "", err
	}
	return secret, nil
}

// EnsureAdminToken creates an admin token (read and write) when the store
// has none and writes it to <dataDir>/admin.token (mode 0600). It returns
// the secret when it made one, "" otherwise.
func EnsureAdminToken(ctx context.Context, st Store, dataDir string) (string, error) {
	n, err := st.TokenCount(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	secret, err := CreateToken(ctx, st, "admin", "", []string{ScopeRead, ScopeWrite})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dataDir, "admin.token")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return "", err
	}
	return secret, os.Chmod(path, 0o600)
}

func (t Token) allows(scope string) bool {
	return slices.Contains(t.Scopes, scope) || (scope == ScopeRead && slices.Contains(t.Scopes, ScopeWrite))
}
