package job

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// duplicateKey reports the path of the first key that appears twice in one
// JSON object of data, at any depth ("ms", "ship.zip", "items[2].id"), or
// ok false when there is none. data should be one valid JSON value (Decode
// checks that first); on anything else it returns without panicking. Keys
// are compared after unescaping, so "a" and "\u0061" are the same key.
//
// encoding/json keeps the last of two equal keys, so without this check
// {"ms":1,"ms":2} would silently run with ms=2.
//
// The scan is one pass over the bytes without recursion and, for payloads
// nested less than 16 deep with fewer than 64 keys open at once, without
// allocating: keys are remembered as offsets into data and compared with
// the keys before them in the same object, or through a map from
// manyKeys keys on.
func duplicateKey(data []byte) (path string, ok bool) {
	var (
		keyBuf   [64]keySpan
		frameBuf [16]frame
	)
	keys, frames := keyBuf[:0], frameBuf[:0]
	const (
		wantValue  = iota // a value starts at i
		wantKey           // a key, or the end of an empty object, starts at i
		afterValue        // a value just ended: ',' or the end of its container
	)
	state := wantValue
	for i := 0; ; {
		i = skipSpace(data, i)
		if i >= len(data) {
			return "", false
		}
		switch state {
		case wantValue:
			state = afterValue
			switch data[i] {
			case '{':
				frames = append(frames, frame{obj: true, base: len(keys)})
				state = wantKey
				i++
			case '[':
				frames = append(frames, frame{})
				i++
				if j := skipSpace(data, i); j < len(data) && data[j] == ']' {
					i = j // leave ']' to afterValue
				} else {
					state = wantValue
				}
			case '"':
				i, _ = skipString(data, i)
			default: // number, true, false, null
				for i < len(data) && !isDelim(data[i]) {
					i++
				}
			}
		case wantKey:
			if data[i] == '}' {
				state = afterValue // leave '}' to afterValue
				continue
			}
			top := &frames[len(frames)-1]
			start := i
			var esc bool
			i, esc = skipString(data, i)
			k := keySpan{start: start, end: min(i, len(data)), esc: esc}
			if top.isDuplicate(data, keys[top.base:], k) {
				return pathOf(data, keys, frames, k), true
			}
			keys = append(keys, k)
			top.cur = len(keys) - 1
			i = skipSpace(data, i) + 1 // ':'
			state = wantValue
		case afterValue:
			if len(frames) == 0 {
				return "", false
			}
			top := &frames[len(frames)-1]
			if data[i] == ',' {
				i++
				if top.obj {
					state = wantKey
				} else {
					top.n++
					state = wantValue
				}
				continue
			}
			i++ // '}' or ']'
			if top.obj {
				keys = keys[:top.base]
			}
			frames = frames[:len(frames)-1]
		}
	}
}

// keySpan is a key as the offsets of its quoted text in data.
type keySpan struct {
	start, end int
	esc        bool // has escapes: compare decoded
}

// frame is an object or array being scanned.
type frame struct {
	obj  bool
	base int                 // object: index of its first key in the key stack
	cur  int                 // object: index of its current key
	n    int                 // array: index of the current element
	seen map[string]struct{} // object: its keys, from manyKeys keys on
}

// manyKeys is the object size from which duplicates are found with a map
// instead of comparing each key with the ones before it.
const manyKeys = 32

// isDuplicate reports whether k equals one of before, the keys f has seen.
func (f *frame) isDuplicate(data []byte, before []keySpan, k keySpan) bool {
	if f.seen == nil && len(before) < manyKeys {
		for _, b := range before {
			if keyEqual(data, b, k) {
				return true
			}
		}
		return false
	}
	if f.seen == nil {
		f.seen = make(map[string]struct{}, 2*manyKeys)
		for _, b := range before {
			f.seen[keyText(data, b)] = struct{}{}
		}
	}
	s := keyText(data, k)
	if _, dup := f.seen[s]; dup {
		return true
	}
	f.seen[s] = struct{}{}
	return false
}

func keyEqual(data []byte, a, b keySpan) bool {
	if !a.esc && !b.esc {
		return bytes.Equal(data[a.start:a.end], data[b.start:b.end])
	}
	return keyText(data, a) == keyText(data, b)
}

// keyText returns the decoded key.
func keyText(data []byte, k keySpan) string {
	raw := data[k.start:k.end]
	if !k.esc && len(raw) >= 2 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return string(raw) // not valid JSON: compare the raw text
	}
	return s
}

// pathOf returns the path of the duplicate key k inside frames: "a.b[2].k".
func pathOf(data []byte, keys []keySpan, frames []frame, k keySpan) string {
	var b strings.Builder
	for _, f := range frames[:len(frames)-1] {
		if !f.obj {
			b.WriteString("[" + strconv.Itoa(f.n) + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(keyText(data, keys[f.cur]))
	}
	if b.Len() > 0 {
		b.WriteByte('.')
	}
	b.WriteString(keyText(data, k))
	return b.String()
}

// skipString returns the offset after the string that starts with the
// quote at data[i], and whether it has escapes. It jumps from quote to
// quote: a quote preceded by an odd run of backslashes is escaped.
func skipString(data []byte, i int) (end int, esc bool) {
	for i++; i < len(data); {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			break
		}
		q := i + j
		if !esc && bytes.IndexByte(data[i:q], '\\') >= 0 {
			esc = true
		}
		n := 0
		for k := q - 1; k >= i && data[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, esc
		}
		i = q + 1
	}
	return len(data), esc
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func isDelim(c byte) bool {
	switch c {
	case ',', '}', ']', ':', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}
