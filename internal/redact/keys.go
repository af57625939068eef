package redact

import "strings"

// keyWords are the words that make a key name secret, wherever they
// appear in it (client_secret, X-Api-Key, refresh_token, Set-Cookie),
// compared without regard to ASCII case.
var keyWords = []string{
	"password", "passwd", "secret", "token", "signature", "authorization", "credential", "cookie",
	"api_key", "api-key", "apikey", "access_key", "access-key", "accesskey",
	"private_key", "private-key", "privatekey",
}

// defaultKeys finds keyWords. It is shared and never changed.
var defaultKeys = newWords(keyWords...)

// redactKeys blanks the values of secret-named keys in s: the key is the
// run of letters, digits, "_", "-" and "." around a match of keys. Three
// shapes are read:
//
//   - key=value, anywhere: the value runs to white space or one of
//     & , ; " ' < > ) } ] (a quoted or bracketed value to its end), and
//     "Bearer x" or "Basic x" counts as one value;
//   - "key": value and 'key': value (JSON and the like): a string value,
//     or a number;
//   - key: value, where Go's "op: cause" error chains cannot be meant: at
//     the start of a line, after one of [ { ( , ; or when the key starts
//     with an upper-case letter (a header, a struct field: error strings
//     start lower-case). With a space after the colon (a header) the value
//     runs to the end of the line; without (a struct field printed by %+v)
//     it is one word.
func redactKeys(keys *words, s string) string {
	var b strings.Builder
	last := 0
	for i := 0; ; {
		ws, we := keys.next(s, i)
		if ws < 0 {
			break
		}
		i = we
		if ws < last {
			continue
		}
		ks, ke := keyBounds(s, ws, we)
		i = ke // the key's other words would find the same value
		if ks < last {
			continue
		}
		vs, ve, ok := keyValue(s, ks, ke)
		if !ok {
			continue
		}
		b.WriteString(s[last:vs])
		b.WriteString(Marker)
		last = ve
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

func isKeyByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// keyBounds widens s[i:j] to the whole key name around it. An escaped
// \n, \r or \t before it (a header dump inside a quoted string) ends it.
func keyBounds(s string, i, j int) (int, int) {
	for i > 0 && isKeyByte(s[i-1]) && !escapedSpace(s, i-1) {
		i--
	}
	for j < len(s) && isKeyByte(s[j]) {
		j++
	}
	return i, j
}

// keyValue returns the span of the value of the key s[ks:ke], if it has one
// that is not blanked already.
func keyValue(s string, ks, ke int) (int, int, bool) {
	i := ke
	quote := ""
	switch {
	case strings.HasPrefix(s[i:], `\"`):
		quote = `\"`
	case i < len(s) && (s[i] == '"' || s[i] == '\''):
		quote = s[i : i+1]
	}
	if quote != "" {
		if !strings.HasSuffix(s[:ks], quote) {
			return 0, 0, false
		}
		i += len(quote)
	}
	i = skipBlanks(s, i)
	if i >= len(s) || s[i] != ':' && s[i] != '=' {
		return 0, 0, false
	}
	sep := s[i]
	j := skipBlanks(s, i+1)
	spaced := j > i+1
	i = j
	if i >= len(s) || strings.HasPrefix(s[i:], Marker) {
		return 0, 0, false
	}
	if sep == ':' && quote == "" && !headerContext(s, ks) {
		return 0, 0, false
	}
	var vs, ve int
	switch {
	case strings.HasPrefix(s[i:], `\"`):
		vs = i + 2
		ve = indexFrom(s, vs, `\"`)
	case s[i] == '"' || s[i] == '\'':
		vs = i + 1
		ve = quoteEnd(s, vs, s[i])
	case s[i] == '[':
		vs = i + 1
		ve = indexFrom(s, vs, "]")
	case quote != "": // a JSON value that is not a string: blank numbers only
		if c := s[i]; c != '-' && (c < '0' || c > '9') {
			return 0, 0, false
		}
		vs, ve = i, wordEnd(s, i, " \t\r\n,}]")
	case sep == ':' && spaced:
		vs, ve = i, lineEnd(s, i)
	default:
		vs, ve = i, wordEnd(s, i, " \t\r\n&,;\"'<>)}]\\")
		if isAuthScheme(s[vs:ve]) {
			if k := skipBlanks(s, ve); k > ve && k < len(s) {
				ve = max(ve, wordEnd(s, k, " \t\r\n&,;\"'<>)}]\\"))
			}
		}
	}
	if ve <= vs || strings.HasPrefix(s[vs:], Marker) {
		return 0, 0, false
	}
	return vs, ve, true
}

// headerContext reports whether a key: value at ks can be a field rather
// than a step of an error chain (see redactKeys).
func headerContext(s string, ks int) bool {
	if c := s[ks]; c >= 'A' && c <= 'Z' {
		return true
	}
	i := ks
	for i > 0 && (s[i-1] == ' ' || s[i-1] == '\t') {
		i--
	}
	if i == 0 || strings.HasSuffix(s[:i], `\n`) {
		return true
	}
	return strings.IndexByte("\r\n[{(,;", s[i-1]) >= 0
}

// escapedSpace reports whether s[i] is the letter of a \n, \r or \t.
func escapedSpace(s string, i int) bool {
	return i > 0 && s[i-1] == '\\' && (s[i] == 'n' || s[i] == 'r' || s[i] == 't')
}

func isAuthScheme(w string) bool {
	return strings.EqualFold(w, "bearer") || strings.EqualFold(w, "basic") ||
		strings.EqualFold(w, "token") || strings.EqualFold(w, "digest")
}

func skipBlanks(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// indexFrom returns the index of sub in s at or after i, or len(s).
func indexFrom(s string, i int, sub string) int {
	if k := strings.Index(s[i:], sub); k >= 0 {
		return i + k
	}
	return len(s)
}

// quoteEnd returns the index of the quote q that closes a string starting
// at i, skipping backslash escapes, or the end of the line.
func quoteEnd(s string, i int, q byte) int {
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case q, '\n', '\r':
			return i
		}
	}
	return len(s)
}

// wordEnd returns the index of the first of stops at or after i, or len(s).
func wordEnd(s string, i int, stops string) int {
	if k := strings.IndexAny(s[i:], stops); k >= 0 {
		return i + k
	}
	return len(s)
}

// lineEnd returns where the line at i ends: at CR, LF, an escaped \r or
// \n (a header dump inside a quoted string) or a double quote.
func lineEnd(s string, i int) int {
	for ; i < len(s); i++ {
		switch s[i] {
		case '\r', '\n', '"':
			return i
		case '\\':
			if i+1 < len(s) && (s[i+1] == 'r' || s[i+1] == 'n' || s[i+1] == '"') {
				return i
			}
		}
	}
	return len(s)
}
