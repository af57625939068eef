package builtin

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// validHeaderName reports whether name is an HTTP token (RFC 9110, 5.1).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether v may be sent as a header value: no
// control characters other than horizontal tab (RFC 9110, 5.5).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// parseRetryAfter reads a Retry-After header value (RFC 9110, 10.2.3):
// delta-seconds or an HTTP-date, relative to now. A date in the past gives
// 0; values above webhookRetryAfterCeiling are cut to it. ok is false when
// v is empty or malformed.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return webhookRetryAfterCeiling, true
			}
			return 0, false
		}
		if secs > uint64(webhookRetryAfterCeiling/time.Second) {
			return webhookRetryAfterCeiling, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), webhookRetryAfterCeiling), true
}
