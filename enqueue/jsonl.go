package enqueue

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/jobrunner/jobrunner/job"
)

// lineObject is one line of bulk input.
type lineObject struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
	Options *rawOptions     `json:"options"`
}

// parseLine decodes one JSONL line strictly: one JSON object, no unknown
// keys (in the object or its options), no wrong types. It returns the
// type, the payload ({} when absent) and the options.
func parseLine(line []byte) (typ string, payload []byte, opts optionSet, err error) {
	if trimmed := bytes.TrimSpace(line); len(trimmed) > 0 && trimmed[0] != '{' && json.Valid(trimmed) {
		return "", nil, opts, errors.New("want a JSON object, got another JSON value")
	}
	obj, err := job.Decode[lineObject](line)
	if err != nil {
		var pe *job.PayloadError
		if errors.As(err, &pe) {
			if pe.Field != "" {
				return "", nil, opts, &fieldError{field: pe.Field, quoted: true, err: pe.Err}
			}
			return "", nil, opts, pe.Err
		}
		return "", nil, opts, err
	}
	if obj.Type == "" {
		return "", nil, opts, &fieldError{field: "type", quoted: true, err: errors.New("is required")}
	}
	payload = []byte(obj.Payload)
	if payload == nil {
		payload = []byte("{}")
	}
	if obj.Options != nil {
		if opts, err = obj.Options.parse(lineNames); err != nil {
			return "", nil, opts, err
		}
	}
	return obj.Type, payload, opts, nil
}

// lineReader reads lines of at most max bytes; longer lines are skipped
// and reported, so one bad line does not end the run.
type lineReader struct {
	r   *bufio.Reader
	max int
	n   int // number of the last line read
	buf []byte
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// utf8BOM is the UTF-8 byte-order mark, accepted at the start of input.
var utf8BOM = []byte("\xef\xbb\xbf")

// errLineTooLong is returned by next for a line over the limit.
var errLineTooLong = errors.New("line too long")

// next returns the next line without its end-of-line bytes, or io.EOF.
// The slice is valid until the following call.
func (lr *lineReader) next() ([]byte, error) {
	lr.buf = lr.buf[:0]
	tooLong := false
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if !tooLong {
			if len(lr.buf)+len(chunk) > lr.max+2 { // +2: room for "\r\n"
				tooLong, lr.buf = true, lr.buf[:0]
			} else {
				lr.buf = append(lr.buf, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(chunk) == 0 && len(lr.buf) == 0 && !tooLong {
				return nil, io.EOF
			}
		case err != nil:
			return nil, err
		}
		lr.n++
		if tooLong {
			return nil, errLineTooLong
		}
		line := bytes.TrimRight(lr.buf, "\r\n")
		if lr.n == 1 {
			// Editors on Windows start UTF-8 files with a byte-order mark.
			line = bytes.TrimPrefix(line, utf8BOM)
		}
		if len(line) > lr.max {
			return nil, errLineTooLong
		}
		return line, nil
	}
}
