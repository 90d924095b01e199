package client

import (
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// FormatHelp describes the record format tokens (kcat's -f subset).
const FormatHelp = `%t topic, %p partition, %o offset, %k key, %s value, %K key length
(-1 if null), %S value length (-1 if null), %T timestamp (Unix ms), %h headers
(k=v,k2=v2), %% a literal %; escapes \n \r \t \\`

// Format is a compiled kcat-style record format.
type Format struct {
	parts []fmtPart
}

type fmtPart struct {
	verb byte   // 0 for literal
	lit  []byte // for verb == 0
}

// ParseFormat compiles a kcat-style format string (see FormatHelp).
// Unknown verbs and a trailing lone % or \ are errors.
func ParseFormat(s string) (*Format, error) {
	f := &Format{}
	var lit []byte
	flush := func() {
		if len(lit) > 0 {
			f.parts = append(f.parts, fmtPart{lit: lit})
			lit = nil
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%', '\\':
			if i+1 == len(s) {
				return nil, fmt.Errorf("format %q: dangling %q at end", s, c)
			}
			i++
			n := s[i]
			if c == '\\' {
				switch n {
				case 'n':
					lit = append(lit, '\n')
				case 'r':
					lit = append(lit, '\r')
				case 't':
					lit = append(lit, '\t')
				case '\\':
					lit = append(lit, '\\')
				default:
					return nil, fmt.Errorf("format %q: unknown escape \\%c", s, n)
				}
				continue
			}
			switch n {
			case '%':
				lit = append(lit, '%')
			case 't', 'p', 'o', 'k', 's', 'K', 'S', 'T', 'h':
				flush()
				f.parts = append(f.parts, fmtPart{verb: n})
			default:
				return nil, fmt.Errorf("format %q: unknown token %%%c", s, n)
			}
		default:
			lit = append(lit, c)
		}
	}
	flush()
	return f, nil
}

// MustFormat is ParseFormat for constant formats.
func MustFormat(s string) *Format {
	f, err := ParseFormat(s)
	if err != nil {
		panic(err)
	}
	return f
}

// Append appends r formatted to dst.
func (f *Format) Append(dst []byte, r *kgo.Record) []byte {
	for _, p := range f.parts {
		switch p.verb {
		case 0:
			dst = append(dst, p.lit...)
		case 't':
			dst = append(dst, r.Topic...)
		case 'p':
			dst = strconv.AppendInt(dst, int64(r.Partition), 10)
		case 'o':
			dst = strconv.AppendInt(dst, r.Offset, 10)
		case 'k':
			dst = append(dst, r.Key...)
		case 's':
			dst = append(dst, r.Value...)
		case 'K':
			dst = strconv.AppendInt(dst, nullableLen(r.Key), 10)
		case 'S':
			dst = strconv.AppendInt(dst, nullableLen(r.Value), 10)
		case 'T':
			if r.Timestamp.IsZero() {
				dst = append(dst, "-1"...)
			} else {
				dst = strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10)
			}
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = append(dst, h.Key...)
				dst = append(dst, '=')
				dst = append(dst, h.Value...)
			}
		}
	}
	return dst
}

func nullableLen(b []byte) int64 {
	if b == nil {
		return -1
	}
	return int64(len(b))
}
