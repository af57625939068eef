package redact

import "strings"

// words finds any of a set of words in a text, without regard to ASCII
// case. It is a plain scan, several times faster than the equivalent
// case-insensitive regular expression.
type words struct {
	byFirst [256][]string // lower-case words by their first byte
}

func newWords(ws ...string) *words {
	w := &words{}
	for _, x := range ws {
		if x = strings.ToLower(x); x != "" {
			w.byFirst[x[0]] = append(w.byFirst[x[0]], x)
			if u := upper(x[0]); u != x[0] {
				w.byFirst[u] = append(w.byFirst[u], x)
			}
		}
	}
	return w
}

// next returns the span of the first word at or after i, or -1, -1.
func (w *words) next(s string, i int) (int, int) {
	for ; i+1 < len(s); i++ {
		ws := w.byFirst[s[i]]
		if len(ws) == 0 {
			continue
		}
		second := lower(s[i+1])
		for _, x := range ws {
			if len(x) > 1 && x[1] != second || len(s)-i < len(x) {
				continue
			}
			if hasPrefixFold(s[i:], x) {
				return i, i + len(x)
			}
		}
	}
	return -1, -1
}

// hasPrefixFold reports whether s starts with lc, a lower-case word,
// in any ASCII case.
func hasPrefixFold(s, lc string) bool {
	for k := range len(lc) {
		if lower(s[k]) != lc[k] {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}
