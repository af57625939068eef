// Package logkey shortens keys for log lines, span attributes and error
// texts. Dedupe and lock keys come from payloads, so one can be as long as a
// payload (a megabyte): logged whole it floods the log pipeline.
package logkey

import (
	"strconv"
	"unicode/utf8"
)

// Max is the longest key shown whole, in bytes.
const Max = 200

// Cap returns k when it is at most Max bytes, else its first Max bytes (cut
// at a character boundary) followed by "…(N bytes)" with k's length.
func Cap(k string) string {
	if len(k) <= Max {
		return k
	}
	cut := Max
	for cut > 0 && !utf8.RuneStart(k[cut]) {
		cut--
	}
	return k[:cut] + "…(" + strconv.Itoa(len(k)) + " bytes)"
}
