package redact

import (
	"regexp"
	"slices"
	"strings"
)

// Marker replaces each secret.
const Marker = "[redacted]"

// Window is how much of a text Redact examines, in bytes: the rest is cut
// (with a marker), so a megabyte of error text costs no more than this.
const Window = 16 << 10

// MinSecret is the length, in bytes, under which a literal secret is
// ignored: blanking every "1" or "ab" would blank innocent text.
const MinSecret = 4

// Config lists the rules a Redactor applies besides the built-in ones.
type Config struct {
	// Secrets are literal strings blanked wherever they appear, also
	// percent-encoded, Go-quoted or JSON-escaped. Strings shorter than
	// MinSecret bytes are ignored.
	Secrets []string
	// Keys are more key names whose values are blanked, matched like the
	// built-in ones: without regard to ASCII case, anywhere in a key name.
	Keys []string
	// Patterns are more expressions: each match is blanked, or only its
	// capture groups when it has any.
	Patterns []*regexp.Regexp
}

// Redactor blanks secrets in text. It is safe for concurrent use.
type Redactor struct {
	keys     *words
	patterns []*regexp.Regexp
	lits     *literals
}

// New returns a Redactor for the built-in rules and c's.
func New(c Config) *Redactor {
	r := &Redactor{keys: defaultKeys, lits: newLiterals(c.Secrets)}
	if len(c.Keys) > 0 {
		r.keys = newWords(append(slices.Clone(keyWords), c.Keys...)...)
	}
	for _, p := range c.Patterns {
		if p != nil {
			r.patterns = append(r.patterns, p)
		}
	}
	return r
}

// Redact returns s with every secret the rules find replaced by Marker.
// Only the first Window bytes of s are examined; a longer s is cut there
// (back to the last byte no token or URL holds, such as a space, so no
// half secret is kept) and ends with a truncation marker.
func (r *Redactor) Redact(s string) string {
	total := len(s)
	cut := total > Window
	if cut {
		s = r.lits.trimPartial(cutBack(s, Window))
	}
	s = r.lits.replace(s)
	s = redactURLs(s)
	s = redactKeys(r.keys, s)
	s = redactAuth(s)
	for _, p := range r.patterns {
		s = blankMatches(p, s)
	}
	s = r.lits.verify(s)
	if cut {
		s += truncated(total)
	}
	return s
}

// covered reports whether s[from:to] lies inside a Marker, so a rule does
// not blank what another already blanked.
func covered(s string, from, to int) bool {
	for i := max(0, from-len(Marker)+1); i <= from; i++ {
		if strings.HasPrefix(s[i:], Marker) && i+len(Marker) >= to {
			return true
		}
	}
	return false
}

// blankMatches blanks each match of p in s, or only its capture groups
// when p has any.
func blankMatches(p *regexp.Regexp, s string) string {
	ms := p.FindAllStringSubmatchIndex(s, -1)
	if ms == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range ms {
		spans := [][2]int{{m[0], m[1]}}
		if len(m) > 2 {
			spans = spans[:0]
			for g := 2; g+1 < len(m); g += 2 {
				if m[g] >= 0 {
					spans = append(spans, [2]int{m[g], m[g+1]})
				}
			}
		}
		for _, sp := range spans {
			if sp[0] < last || sp[0] == sp[1] || covered(s, sp[0], sp[1]) {
				continue
			}
			b.WriteString(s[last:sp[0]])
			b.WriteString(Marker)
			last = sp[1]
		}
	}
	b.WriteString(s[last:])
	return b.String()
}
