// Package redact blanks secrets in error text: the one mechanism behind
// job.Sanitizer, which the runner applies to every error text that leaves
// a worker (asynq's stored error, log lines, span statuses), the enqueue
// command's --wait output and the webhook job's errors.
//
// A [Redactor] applies, in order: literal secrets (and their
// percent-encoded, quoted and JSON-escaped forms), URL userinfo and query
// and fragment values, values of secret-named keys (key=value, key: value,
// "key": "value"), Bearer and Basic credentials, and extra patterns. Each
// secret becomes [Marker]. The built-in rules are plain scans, several
// times faster than equivalent case-insensitive regular expressions; [New]
// prepares a Redactor's literals and extra key names once, and package
// variables are never changed.
//
// [Truncate] caps a text at a length with a marker saying how long the
// whole was.
//
// See docs/secrets.md for what is blanked, and what is not.
package redact
