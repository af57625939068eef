package job

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
)

// PayloadError reports a payload that cannot be decoded or fails
// validation. It is permanent: retrying the same bytes cannot succeed.
type PayloadError struct {
	// Type is the task type, when known.
	Type string
	// Field is the JSON path of the offending field, or "" when the payload
	// as a whole is wrong (not JSON, trailing data).
	Field string
	// Err is the underlying error.
	Err error
}

func (e *PayloadError) Error() string {
	var b strings.Builder
	b.WriteString("job")
	if e.Type != "" {
		b.WriteString(" " + e.Type)
	}
	b.WriteString(": invalid payload")
	if e.Field != "" {
		fmt.Fprintf(&b, ": field %q", e.Field)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *PayloadError) Unwrap() error { return e.Err }

// Permanent reports that the error must not be retried.
func (e *PayloadError) Permanent() bool { return true }

// ValidationError is returned by FieldError: a Validate method uses it to
// name the field at fault.
type ValidationError struct {
	Field string
	Msg   string
}

func (e *ValidationError) Error() string { return e.Msg }

// FieldError returns a validation error for the named JSON field.
func FieldError(field, format string, args ...any) error {
	return &ValidationError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// ErrDuplicateKey is the Err of a *PayloadError for a JSON object that has
// the same key twice; the PayloadError's Field is the key's path.
var ErrDuplicateKey = errors.New("duplicate key")

// ErrNullPayload is the Err of a *PayloadError for a payload that is the
// JSON literal null.
var ErrNullPayload = errors.New("payload is null; want a JSON value such as {}")

// Decode decodes data into a P strictly: the payload must be one JSON value
// other than null, with no unknown fields, no wrong types and no key twice
// in one object at any depth (encoding/json would keep the last). If P (or
// *P) has a Validate() error method, it is called. Errors are
// *PayloadError; a duplicate key's Field is its path ("ship.zip",
// "items[2].id") and its Err is ErrDuplicateKey.
//
// When P is a struct without embedded fields, a payload object is decoded
// by a pooled json.Decoder (json.Unmarshal above 16 KiB) and its keys
// checked against P's fields (known.go), which allocates nothing but the
// values filled; anything that check does not accept is decoded again by a
// fresh json.Decoder with DisallowUnknownFields, whose error is the one
// returned. The results are the same either way (FuzzDecode compares them).
func Decode[P any](data []byte) (P, error) {
	var p P
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return p, &PayloadError{Err: errors.New("payload is empty; want a JSON value")}
	}
	if string(trimmed) == "null" {
		return p, &PayloadError{Err: ErrNullPayload}
	}
	if !decodeFast(trimmed, &p) {
		p = *new(P)
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return p, decodeError(err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return p, &PayloadError{Err: errors.New("trailing data after the JSON value")}
		}
	}
	// Only objects can repeat a key; a payload without a second key has
	// nothing to scan.
	if bytes.Count(trimmed, []byte{':'}) > 1 {
		if path, dup := duplicateKey(trimmed); dup {
			return p, &PayloadError{Field: path, Err: ErrDuplicateKey}
		}
	}
	if err := validate(&p); err != nil {
		pe := &PayloadError{Err: err}
		var ve *ValidationError
		if errors.As(err, &ve) {
			pe.Field = ve.Field
		}
		return p, pe
	}
	return p, nil
}

// decodeFast decodes data, a JSON object, into p when P's keys can be
// checked without a DisallowUnknownFields decoder (see known.go), and
// reports whether it did. When it did not, p may hold part
// of data: the caller decodes again.
//
// data has no white space around it (the caller trims it), so a value that
// is all of data ends where data ends: the decoder read exactly len(data)
// bytes and left nothing in its buffer, ready for the next payload.
func decodeFast[P any](data []byte, p *P) bool {
	s, ok := shapeOf(reflect.TypeFor[P]())
	if !ok || len(data) == 0 || data[0] != '{' {
		return false
	}
	if len(data) > maxPooledPayload {
		return json.Unmarshal(data, p) == nil && s.knownKeys(data)
	}
	d, _ := decoders.Get().(*pooledDecoder)
	if d == nil {
		d = new(pooledDecoder)
		d.dec = json.NewDecoder(&d.src)
	}
	d.src.Reset(data)
	start := d.dec.InputOffset()
	err := d.dec.Decode(p)
	if err != nil || d.dec.InputOffset()-start != int64(len(data)) || d.src.Len() > 0 {
		// A decoder that failed may keep its error, and one that stopped
		// before the end keeps the rest in its buffer: neither is reused.
		return false
	}
	d.src.Reset(nil) // the pool keeps no payload alive
	decoders.Put(d)
	return s.knownKeys(data)
}

// maxPooledPayload bounds the payloads decoded by a pooled decoder: its
// buffer grows to the largest payload it read, and a pool must not keep
// megabytes alive. Larger payloads go through json.Unmarshal.
const maxPooledPayload = 16 << 10

// decoders holds json.Decoders between jobs. json.Unmarshal allocates its
// decoding state (and the error context of every struct it fills) on each
// call; a Decoder keeps both, so a reused one decodes a payload with no
// allocation beyond the values it fills. A cache, not state: anything taken
// from it is reset before use.
var decoders sync.Pool

// pooledDecoder is a json.Decoder over a byte slice that can be swapped.
type pooledDecoder struct {
	src bytes.Reader
	dec *json.Decoder
}

type validator interface{ Validate() error }

// validate calls P's Validate method, if it has one. *P's method set holds
// P's value methods too, so the pointer (boxed without an allocation)
// finds both; only an interface P needs its dynamic value asked, and only
// then is *p boxed (a struct would be copied to the heap).
func validate[P any](p *P) error {
	if v, ok := any(p).(validator); ok {
		return v.Validate()
	}
	if reflect.TypeFor[P]().Kind() == reflect.Interface {
		if v, ok := any(*p).(validator); ok {
			return v.Validate()
		}
	}
	return nil
}

func decodeError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			return &PayloadError{Err: fmt.Errorf("want %s, got JSON %s", te.Type, te.Value)}
		}
		return &PayloadError{Field: field, Err: fmt.Errorf("want %s, got JSON %s", te.Type, te.Value)}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &PayloadError{Err: fmt.Errorf("not valid JSON at byte %d: %w", se.Offset, err)}
	}
	// encoding/json has no typed error for unknown fields; its message is
	// stable: `json: unknown field "name"`.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &PayloadError{Field: strings.Trim(name, `"`), Err: errors.New("unknown field")}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &PayloadError{Err: errors.New("not valid JSON: unexpected end of input")}
	}
	return &PayloadError{Err: err}
}
