package redact

import "strings"

// redactURLs blanks the userinfo and the query and fragment values of
// every URL in s, which keeps the scheme, host, port, path and parameter
// names readable: "https://[redacted]@api.example.com/v1?api_key=[redacted]".
func redactURLs(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; ; {
		k := strings.Index(s[i:], "://")
		if k < 0 {
			break
		}
		sep := i + k
		i = sep + 3
		start := schemeStart(s, sep)
		if start == sep || start < last {
			continue // no scheme, or inside the previous URL (a redirect parameter)
		}
		end := urlEnd(s, i)
		b.WriteString(s[last:i])
		b.WriteString(redactURLRest(s[i:end]))
		last, i = end, max(i, end)
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// schemeStart returns where the scheme before the "://" at sep starts: a
// letter followed by letters, digits, "+", "-" and ".". It returns sep
// when there is none.
func schemeStart(s string, sep int) int {
	i := sep
	for i > 0 && isSchemeByte(s[i-1]) {
		i--
	}
	for i < sep && !(s[i] >= 'a' && s[i] <= 'z' || s[i] >= 'A' && s[i] <= 'Z') {
		i++
	}
	return i
}

func isSchemeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

// urlEnd returns where the URL whose text after "://" starts at i ends: at
// white space, a quote, an angle bracket or a backslash (an escaped quote
// around a URL inside a quoted string), without the punctuation that ends
// a clause ("connect postgres://h/db: refused").
func urlEnd(s string, i int) int {
	start := i
	for ; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n', '"', '\'', '<', '>', '`', '\\':
			return trimPunct(s, start, i)
		}
	}
	return trimPunct(s, start, i)
}

func trimPunct(s string, start, end int) int {
	for end > start && strings.IndexByte(".,:;)!", s[end-1]) >= 0 {
		end--
	}
	return end
}

// redactURLRest redacts rest, a URL after its "://".
func redactURLRest(rest string) string {
	var b strings.Builder
	authEnd := indexOr(rest, "/?#", len(rest))
	at := strings.LastIndexByte(rest[:authEnd], '@')
	if at < 0 {
		at = unescapedUserinfo(rest, authEnd)
	}
	if at >= 0 {
		if rest[:at] != Marker {
			b.WriteString(Marker)
		} else {
			b.WriteString(rest[:at])
		}
		rest = rest[at:]
	}
	q := indexOr(rest, "?#", len(rest))
	b.WriteString(rest[:q])
	rest = rest[q:]
	if strings.HasPrefix(rest, "?") {
		end := indexOr(rest, "#", len(rest))
		b.WriteByte('?')
		b.WriteString(redactParams(rest[1:end], true))
		rest = rest[end:]
	}
	if strings.HasPrefix(rest, "#") {
		b.WriteByte('#')
		b.WriteString(redactParams(rest[1:], false))
	}
	return b.String()
}

// unescapedUserinfo returns the index of the "@" that ends a userinfo
// whose password holds an unescaped "/" (as a driver may print a DSN:
// postgres://u:p/w@h/db), or -1. It takes one only when the authority
// before the first "/" reads user:password, not host:port, so that a path
// holding an e-mail address keeps its host.
func unescapedUserinfo(rest string, authEnd int) int {
	end := indexOr(rest, "?#", len(rest))
	at := strings.LastIndexByte(rest[:end], '@')
	if at < authEnd || strings.HasPrefix(rest, "[") {
		return -1
	}
	_, pass, ok := strings.Cut(rest[:authEnd], ":")
	if !ok || pass == "" || isDigits(pass) {
		return -1
	}
	return at
}

// redactParams blanks the values of name=value pairs separated by "&". A
// query part without "=" is blanked whole (it may be a bare token); a
// fragment's is kept (it is usually an anchor).
func redactParams(s string, query bool) string {
	if s == "" {
		return s
	}
	parts := strings.Split(s, "&")
	for i, p := range parts {
		name, value, ok := strings.Cut(p, "=")
		switch {
		case ok && value != "" && value != Marker:
			parts[i] = name + "=" + Marker
		case !ok && query && p != "" && p != Marker:
			parts[i] = Marker
		}
	}
	return strings.Join(parts, "&")
}

// indexOr is strings.IndexAny, or def when s has none of chars.
func indexOr(s, chars string, def int) int {
	if i := strings.IndexAny(s, chars); i >= 0 {
		return i
	}
	return def
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
