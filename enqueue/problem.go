package enqueue

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/jobrunner/jobrunner/job"
)

// ProblemTypeBase starts the type URI of every problem the API answers
// (RFC 9457): the section of docs/api.md that explains it, by its slug.
const ProblemTypeBase = "https://github.com/jobrunner/jobrunner/blob/main/docs/api.md#"

// problem is an RFC 9457 problem details object, the body of every error
// answer (application/problem+json), with our own members: the field or
// task at fault, the invalid lines of a bulk request that failed fast, and
// what a bulk request wrote before Redis failed.
type problem struct {
	Type         string       `json:"type"`
	Title        string       `json:"title"`
	Status       int          `json:"status"`
	Detail       string       `json:"detail,omitempty"`
	Field        string       `json:"field,omitempty"`
	TaskID       string       `json:"task_id,omitempty"`
	Queue        string       `json:"queue,omitempty"`
	InvalidLines []lineError  `json:"invalid_lines,omitempty"`
	Report       *bulkSummary `json:"report,omitempty"`

	retryAfter time.Duration // sent as Retry-After, in whole seconds
	allow      string        // sent as Allow with 405
}

// The problems the API answers, by slug; docs/api.md has a section for each.
var problemTitles = map[string]string{
	"malformed-json":          "Malformed JSON",
	"invalid-idempotency-key": "Invalid Idempotency-Key",
	"unauthorized":            "Missing or invalid bearer token",
	"not-found":               "Not found",
	"unknown-job-type":        "Unknown job type",
	"task-not-found":          "Task not found",
	"method-not-allowed":      "Method not allowed",
	"request-timeout":         "Request body not received in time",
	"task-exists":             "Task ID already exists",
	"duplicate-task":          "Duplicate of a unique task",
	"idempotency-in-progress": "A request with this Idempotency-Key is in progress",
	"payload-too-large":       "Request or payload too large",
	"invalid-request":         "Invalid request",
	"invalid-payload":         "Invalid payload",
	"idempotency-key-reused":  "Idempotency-Key reused with a different request",
	"internal-error":          "Internal error",
	"redis-unavailable":       "Redis unavailable",
	"shutting-down":           "Server shutting down",
}

// newProblem returns the problem of slug with status and detail.
func newProblem(status int, slug, detail string) *problem {
	title, ok := problemTitles[slug]
	if !ok {
		panic("enqueue: unknown problem " + slug)
	}
	return &problem{Type: ProblemTypeBase + slug, Title: title, Status: status, Detail: oneLine(detail)}
}

// unavailable is the answer when Redis failed or did not answer in time.
func unavailable() *problem {
	p := newProblem(http.StatusServiceUnavailable, "redis-unavailable",
		"Redis did not answer in time or refused the request; nothing was enqueued unless the answer of a retry says so")
	p.retryAfter = unavailableRetryAfter
	return p
}

// unavailableRetryAfter is the Retry-After of a 503.
const unavailableRetryAfter = time.Second

// validationProblem maps an error of parseLine or newTask to its problem:
// 404 for an unknown job type, 413 for a payload over the limit, 422 for
// the rest, naming the field at fault where the error does. The detail is
// the error's text, the one the CLI prints.
func validationProblem(err error) *problem {
	var (
		pe *job.PayloadError
		fe *fieldError
		se *payloadSizeError
	)
	switch {
	case errors.Is(err, errUnknownType):
		return newProblem(http.StatusNotFound, "unknown-job-type", err.Error())
	case errors.As(err, &se):
		return newProblem(http.StatusRequestEntityTooLarge, "payload-too-large", err.Error())
	case errors.As(err, &pe):
		p := newProblem(http.StatusUnprocessableEntity, "invalid-payload", err.Error())
		p.Field = "payload"
		if pe.Field != "" {
			p.Field += "." + pe.Field
		}
		return p
	case errors.As(err, &fe):
		p := newProblem(http.StatusUnprocessableEntity, "invalid-request", err.Error())
		p.Field = fe.field
		return p
	}
	return newProblem(http.StatusUnprocessableEntity, "invalid-request", err.Error())
}

// writeProblem writes p as application/problem+json.
func writeProblem(w http.ResponseWriter, p *problem) {
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((p.retryAfter+time.Second-1)/time.Second)))
	}
	if p.allow != "" {
		w.Header().Set("Allow", p.allow)
	}
	if p.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="enqueue"`)
	}
	writeJSON(w, p.Status, "application/problem+json", p)
}

// writeJSON writes v as the JSON body of a status answer.
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil { // our own types: cannot happen
		status, b = http.StatusInternalServerError, []byte(`{"type":"`+ProblemTypeBase+`internal-error","title":"Internal error","status":500}`)
		contentType = "application/problem+json"
	}
	writeBody(w, status, contentType, append(b, '\n'))
}

// writeBody writes a status answer of body.
func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
