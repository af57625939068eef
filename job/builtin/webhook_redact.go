package builtin

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jobrunner/jobrunner/job"
)

const (
	// secretMin is the shortest value blanked: shorter ones are not secrets
	// and would blank innocent text. (job.Sanitizer ignores shorter
	// literals too.)
	secretMin = 4
	// secretPartMin is the shortest part of a header value blanked on its
	// own, such as the token of "Bearer <token>".
	secretPartMin = 8
	// secretSegmentMin is the shortest URL path segment blanked on its own:
	// long enough for the tokens of Slack or Discord webhook URLs, too long
	// for ordinary words.
	secretSegmentMin = 16
)

// webhookSanitizer returns the sanitizer of a delivery's errors: the
// default rules of job.Sanitizer (which the runner applies to every error
// again) plus the delivery's own secrets as literals. It is built only
// when a delivery fails.
func webhookSanitizer(p WebhookPayload, u *url.URL) *job.Sanitizer {
	return job.NewSanitizer(job.SanitizerConfig{Secrets: webhookSecrets(p, u)})
}

// webhookSecrets lists the strings that must never appear in a delivery's
// errors: every header value and its long parts, and the URL's userinfo,
// path (and its long segments) and query values. The URL itself is never
// printed, but a receiver may echo them in a body or a Location header.
func webhookSecrets(p WebhookPayload, u *url.URL) []string {
	var s []string
	add := func(v string, minLen int) {
		if len(v) >= minLen {
			s = append(s, v)
		}
	}
	for _, v := range p.Headers {
		add(v, secretMin)
		for _, part := range strings.FieldsFunc(v, func(r rune) bool { return unicode.IsSpace(r) || r == ',' || r == ';' }) {
			add(part, secretPartMin)
		}
	}
	if u.User != nil {
		add(u.User.Username(), secretMin)
		pw, _ := u.User.Password()
		add(pw, secretMin)
	}
	if p := u.EscapedPath(); p != "/" {
		add(p, secretMin)
		for _, seg := range strings.Split(p, "/") {
			add(seg, secretSegmentMin)
		}
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			add(v, secretMin)
		}
	}
	return s
}

// webhookExcerpt returns the start of a response body for an error: secrets
// blanked by san, valid UTF-8 on one line (control characters and runs of
// space folded to one space), at most WebhookExcerptBytes long.
func webhookExcerpt(body string, san *job.Sanitizer) string {
	s := strings.ToValidUTF8(san.Sanitize(body), "\uFFFD")
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	s = san.Sanitize(s) // a secret that spanned folded space
	if len(s) <= WebhookExcerptBytes {
		return s
	}
	cut := WebhookExcerptBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// clip shortens a user-supplied string quoted in a validation error.
func clip(s string) string {
	const n = 32
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
