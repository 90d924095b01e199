package security

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// AllowList is a set of source addresses and CIDR ranges a listener
// accepts connections from (allowed.cidrs). It is immutable once parsed
// and safe for concurrent use.
type AllowList struct {
	prefixes []netip.Prefix
}

// ParseAllowList parses addresses ("10.0.0.7", "::1") and CIDR ranges
// ("10.0.0.0/24"); a bare address is a single-address range. No entries
// gives a nil list: every source is allowed.
func ParseAllowList(entries []string) (*AllowList, error) {
	var l AllowList
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		p, err := ParseSource(e)
		if err != nil {
			return nil, err
		}
		l.prefixes = append(l.prefixes, p)
	}
	if len(l.prefixes) == 0 {
		return nil, nil
	}
	return &l, nil
}

// ParseSource parses one address or CIDR range into its canonical
// prefix (the address's own bits masked off; IPv4-mapped IPv6 unmapped).
func ParseSource(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR range", s)
		}
		if p.Addr().Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR range", s)
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), bits)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR range", s)
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Allows reports whether a connection from addr (a *net.TCPAddr or any
// "host:port") may be accepted. A nil list allows every source; an
// address that cannot be read is refused.
func (l *AllowList) Allows(addr net.Addr) bool {
	if l == nil {
		return true
	}
	var a netip.Addr
	if t, ok := addr.(*net.TCPAddr); ok {
		var ok2 bool
		if a, ok2 = netip.AddrFromSlice(t.IP); !ok2 {
			return false
		}
	} else {
		ap, err := netip.ParseAddrPort(addr.String())
		if err != nil {
			return false
		}
		a = ap.Addr()
	}
	a = a.Unmap().WithZone("")
	for _, p := range l.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// String is the list's canonical form, comma-separated.
func (l *AllowList) String() string {
	if l == nil {
		return ""
	}
	s := make([]string, len(l.prefixes))
	for i, p := range l.prefixes {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}
