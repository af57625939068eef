package redact

import (
	"bytes"
	"cmp"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// literals blanks known secret strings.
type literals struct {
	// list holds each secret and its encoded forms, longest first, so that
	// at any position the longest one wins.
	list []string
	// checked are those verify looks for in the final text: all but the
	// ones inside Marker itself, which no text without them could avoid.
	checked  []string
	replacer *strings.Replacer
}

func newLiterals(secrets []string) *literals {
	l := &literals{}
	for _, s := range secrets {
		for _, v := range forms(s) {
			if len(v) >= MinSecret {
				l.list = append(l.list, v)
			}
		}
	}
	if len(l.list) == 0 {
		return l
	}
	slices.SortFunc(l.list, func(a, b string) int { return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b)) })
	l.list = slices.Compact(l.list)
	pairs := make([]string, 0, 2*len(l.list))
	for _, v := range l.list {
		pairs = append(pairs, v, Marker)
		if !strings.Contains(Marker, v) {
			l.checked = append(l.checked, v)
		}
	}
	l.replacer = strings.NewReplacer(pairs...)
	return l
}

// forms returns s as it may appear in text: itself, percent-encoded for a
// query, a path and a URL's userinfo, Go-quoted and JSON-escaped.
func forms(s string) []string {
	if s == "" {
		return nil
	}
	out := []string{s, url.QueryEscape(s), url.PathEscape(s)}
	out = append(out, strings.TrimPrefix(url.UserPassword("u", s).String(), "u:"))
	if q := strconv.Quote(s); len(q) >= 2 {
		out = append(out, q[1:len(q)-1])
	}
	if q := strconv.QuoteToASCII(s); len(q) >= 2 {
		out = append(out, q[1:len(q)-1])
	}
	if b, err := json.Marshal(s); err == nil && len(b) >= 2 {
		out = append(out, string(b[1:len(b)-1]))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(s) == nil {
		if b := bytes.TrimSpace(buf.Bytes()); len(b) >= 2 {
			out = append(out, string(b[1:len(b)-1]))
		}
	}
	return out
}

// replace blanks every secret in s.
func (l *literals) replace(s string) string {
	if l.replacer == nil {
		return s
	}
	return l.replacer.Replace(s)
}

// verify makes sure no secret is left in s, which the other rules'
// markers could in theory have formed with the text around them: it
// blanks again, and when that is not enough returns Marker alone.
func (l *literals) verify(s string) string {
	for range 3 {
		if !l.any(s) {
			return s
		}
		s = l.replace(s)
	}
	if l.any(s) {
		return Marker
	}
	return s
}

func (l *literals) any(s string) bool {
	for _, v := range l.checked {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}

// trimPartial removes from the end of s, which cutBack cut just before a
// boundary byte, any beginning of a secret that the cut split: only a
// secret holding a boundary byte can be split there, right before it.
func (l *literals) trimPartial(s string) string {
	trim := 0
	for _, v := range l.list {
		for k := trim + 1; k < len(v); k++ {
			if isBoundary(v[k]) && strings.HasSuffix(s, v[:k]) {
				trim = k
			}
		}
	}
	return s[:len(s)-trim]
}
