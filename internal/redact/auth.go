package redact

import "strings"

var authWords = newWords("bearer", "basic")

// redactAuth blanks Bearer and Basic credentials anywhere: a word of token
// characters (RFC 6750's b64token) at least 6 long that is not a plain
// lower-case word ("Basic authentication failed" stays).
func redactAuth(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; ; {
		ws, we := authWords.next(s, i)
		if ws < 0 {
			break
		}
		i = we
		if ws > 0 && isWordByte(s[ws-1]) || we >= len(s) || s[we] != ' ' && s[we] != '\t' {
			continue
		}
		start := skipBlanks(s, we)
		end := start
		for end < len(s) && isTokenByte(s[end]) {
			end++
		}
		for end < len(s) && s[end] == '=' {
			end++
		}
		w := s[start:end]
		if len(w) < 6 || isLowerWord(w) {
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString(Marker)
		last = end
		i = end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isTokenByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("-._~+/", c) >= 0
}

func isLowerWord(w string) bool {
	for i := range len(w) {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return true
}
