package job

import (
	"regexp"

	"github.com/jobrunner/jobrunner/internal/redact"
)

// Sanitizer blanks secrets in error text. The runner passes every error
// text that leaves a worker through one (Config.Sanitize, whose default is
// NewSanitizer(SanitizerConfig{}).Sanitize): the error asynq stores with
// the task (which asynqmon, the asynq CLI and enqueue --wait show), the
// log lines and the span status.
//
// With no configuration it blanks, each into "[redacted]":
//
//   - a URL's userinfo and its query and fragment values, whatever their
//     names (https://[redacted]@api.example.com/v1?page=[redacted]);
//   - Bearer and Basic credentials, anywhere;
//   - the values of keys whose name contains password, passwd, secret,
//     token, api_key, apikey, access_key, private_key, signature,
//     authorization, credential or cookie (case-insensitive, "-" or "_"
//     or nothing between the words), in the forms key=value,
//     "key": "value" (JSON, also escaped inside a quoted string), and
//     key: value where it cannot be a step of an error chain such as
//     "fetch token: 401" (a header line, a struct field printed with %+v).
//
// SanitizerConfig adds literal secrets, key names and patterns. Only the
// first 16 KB of a text is examined; the rest is cut with a marker.
// A Sanitizer is safe for concurrent use.
type Sanitizer struct{ r *redact.Redactor }

// SanitizerConfig lists the rules a Sanitizer applies besides the default
// ones. The zero value adds none.
type SanitizerConfig struct {
	// Secrets are literal strings blanked wherever they appear, also
	// percent-encoded (as in a URL), Go-quoted or JSON-escaped: the
	// passwords and keys a program holds (cmd/worker adds its Redis
	// passwords and OTLP header values). Strings shorter than 4 bytes are
	// ignored.
	Secrets []string

	// Keys are more key names whose values are blanked, matched like the
	// default ones: case-insensitively, anywhere in a key's name.
	Keys []string

	// Patterns are more regular expressions: each match is blanked, or,
	// when the expression has capture groups, the text of each group, so
	// `(?i)x-tenant: (\S+)` keeps the header's name. They run after the
	// default rules.
	Patterns []*regexp.Regexp
}

// NewSanitizer returns a Sanitizer for the default rules and c's. It
// compiles an expression only for c.Keys: make one and keep it.
func NewSanitizer(c SanitizerConfig) *Sanitizer {
	return &Sanitizer{redact.New(redact.Config{Secrets: c.Secrets, Keys: c.Keys, Patterns: c.Patterns})}
}

// Sanitize returns msg with its secrets blanked.
func (s *Sanitizer) Sanitize(msg string) string { return s.r.Redact(msg) }
