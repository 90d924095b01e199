package security

import (
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Anonymous is the principal name of an unauthenticated connection
// (PLAINTEXT, or SSL without a client certificate), as Kafka's
// KafkaPrincipal.ANONYMOUS.
const Anonymous = "ANONYMOUS"

// ErrPrincipalMapping marks a certificate subject no
// ssl.principal.mapping.rules rule matches, or a rule that does not parse.
var ErrPrincipalMapping = errors.New("ssl principal mapping")

// MappingRules are parsed ssl.principal.mapping.rules: each rule is DEFAULT
// (the distinguished name unchanged) or RULE:pattern/replacement/[LU]
// (when the Java-style regular expression matches the whole name, the
// replacement with $1... groups, then optionally lower- or upper-cased).
// Rules are tried in order; the first that matches gives the name.
type MappingRules []mappingRule

type mappingRule struct {
	dflt    bool
	re      *regexp.Regexp
	repl    string
	caseFn  byte // 'L', 'U' or 0
	comment string
}

// ParseMappingRules parses ssl.principal.mapping.rules. Rules are separated
// by commas or new lines; a '/' inside a pattern or replacement is escaped
// as "\/". An empty value is DEFAULT.
func ParseMappingRules(s string) (MappingRules, error) {
	var rules MappingRules
	i := 0
	for {
		for i < len(s) && (s[i] == ',' || s[i] == '\n' || s[i] == ' ' || s[i] == '\t' || s[i] == '\r') {
			i++
		}
		if i >= len(s) {
			break
		}
		switch {
		case strings.HasPrefix(s[i:], "DEFAULT"):
			rules = append(rules, mappingRule{dflt: true})
			i += len("DEFAULT")
		case strings.HasPrefix(s[i:], "RULE:"):
			start := i
			i += len("RULE:")
			pat, n, ok := untilSlash(s[i:])
			if !ok {
				return nil, fmt.Errorf("%w: rule %q: expected RULE:pattern/replacement/[LU]", ErrPrincipalMapping, s[start:])
			}
			i += n
			repl, n, ok := untilSlash(s[i:])
			if !ok {
				return nil, fmt.Errorf("%w: rule %q: expected RULE:pattern/replacement/[LU]", ErrPrincipalMapping, s[start:])
			}
			i += n
			r := mappingRule{repl: javaReplacement(repl)}
			if i < len(s) && (s[i] == 'L' || s[i] == 'U') {
				r.caseFn = s[i]
				i++
			}
			re, err := regexp.Compile("^(?:" + pat + ")$")
			if err != nil {
				return nil, fmt.Errorf("%w: rule pattern %q: %v", ErrPrincipalMapping, pat, err)
			}
			r.re = re
			rules = append(rules, r)
		default:
			end := strings.IndexAny(s[i:], ",\n")
			if end < 0 {
				end = len(s) - i
			}
			return nil, fmt.Errorf("%w: invalid rule %q: use DEFAULT or RULE:pattern/replacement/[LU]", ErrPrincipalMapping, strings.TrimSpace(s[i:i+end]))
		}
		// Anything up to the next separator must be blank.
		for i < len(s) && s[i] != ',' && s[i] != '\n' {
			if s[i] != ' ' && s[i] != '\t' && s[i] != '\r' {
				return nil, fmt.Errorf("%w: unexpected %q after a rule", ErrPrincipalMapping, s[i:])
			}
			i++
		}
	}
	if len(rules) == 0 {
		rules = MappingRules{{dflt: true}}
	}
	return rules, nil
}

// untilSlash reads up to an unescaped '/', unescaping "\/"; n counts the
// bytes consumed including the slash.
func untilSlash(s string) (out string, n int, ok bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '/':
			b.WriteByte('/')
			i++
		case s[i] == '/':
			return b.String(), i + 1, true
		default:
			b.WriteByte(s[i])
		}
	}
	return "", 0, false
}

// javaReplacement turns Java's $N group references into Go's ${N}.
func javaReplacement(r string) string {
	var b strings.Builder
	for i := 0; i < len(r); i++ {
		switch {
		case r[i] == '\\' && i+1 < len(r):
			i++
			if r[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(r[i])
			}
		case r[i] == '$' && i+1 < len(r) && r[i+1] >= '0' && r[i+1] <= '9':
			b.WriteString("${")
			b.WriteByte(r[i+1])
			b.WriteByte('}')
			i++
		case r[i] == '$':
			b.WriteString("$$")
		default:
			b.WriteByte(r[i])
		}
	}
	return b.String()
}

// Apply maps a distinguished name to a principal name.
func (rs MappingRules) Apply(dn string) (string, error) {
	for _, r := range rs {
		if r.dflt {
			return dn, nil
		}
		m := r.re.FindStringSubmatchIndex(dn)
		if m == nil {
			continue
		}
		out := string(r.re.ExpandString(nil, r.repl, dn, m))
		switch r.caseFn {
		case 'L':
			out = strings.ToLower(out)
		case 'U':
			out = strings.ToUpper(out)
		}
		return out, nil
	}
	return "", fmt.Errorf("%w: no rule matches %q", ErrPrincipalMapping, dn)
}

// SubjectName is a certificate's subject as RFC 2253 text, most specific
// attribute first (CN=...,OU=...,O=...,C=...), the form Kafka's rules see.
func SubjectName(c *x509.Certificate) string { return c.Subject.String() }
