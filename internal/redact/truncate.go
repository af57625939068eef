package redact

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Truncate returns s when it is at most n bytes long, else its first n
// bytes at most (cut at a rune boundary) followed by a marker that says
// total, the length of the text s was made from: "…[truncated: 1048576
// bytes in all]".
func Truncate(s string, n, total int) string {
	if len(s) <= n {
		return s
	}
	return s[:runeStart(s, n)] + truncated(max(total, len(s)))
}

// truncated is the marker that ends a cut text.
func truncated(total int) string {
	return "…[truncated: " + strconv.Itoa(total) + " bytes in all]"
}

// runeStart returns the largest i <= n at which a rune of s starts.
func runeStart(s string, n int) int {
	if n >= len(s) {
		return len(s)
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}

// cutBack returns s cut to at most n bytes, back to the last byte that
// cannot be part of a token or a URL (white space, a quote, a bracket,
// anything not ASCII), so that the cut splits no secret and leaves no URL
// without the "@" that ends its userinfo. A text with no such byte is
// dropped whole.
func cutBack(s string, n int) string {
	s = s[:runeStart(s, n)]
	for i := len(s) - 1; i >= 0; i-- {
		if isBoundary(s[i]) {
			return s[:runeStart(s, i)]
		}
	}
	return ""
}

// isBoundary reports a byte that a token or a URL does not hold.
func isBoundary(c byte) bool {
	return c >= utf8.RuneSelf || c <= ' ' || strings.IndexByte("\"'<>\\`^{|}", c) >= 0
}
