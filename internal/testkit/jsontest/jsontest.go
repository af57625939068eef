// Package jsontest holds reference checks on JSON text for tests and fuzz
// targets: slow, obviously correct versions of what the production code
// does fast, so that a fuzz target can compare the two.
package jsontest

import (
	"bytes"
	"encoding/json"
)

// HasDuplicateKey reports whether data, one valid JSON value, has a key
// twice in one object at any depth, comparing keys after unescaping. It
// walks encoding/json's tokens with a map per object. It returns false for
// invalid JSON.
func HasDuplicateKey(data []byte) bool {
	if !json.Valid(data) {
		return false
	}
	type frame struct {
		obj     bool
		keys    map[string]bool
		wantKey bool // the next token in this object is a key or '}'
	}
	var stack []*frame
	valueEnded := func() {
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].wantKey = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
			top := stack[n-1]
			if tok == json.Delim('}') {
				stack = stack[:n-1]
				valueEnded()
				continue
			}
			k, ok := tok.(string)
			if !ok {
				return false
			}
			if top.keys[k] {
				return true
			}
			top.keys[k] = true
			top.wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &frame{obj: true, keys: map[string]bool{}, wantKey: true})
		case json.Delim('['):
			stack = append(stack, &frame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueEnded()
		default:
			valueEnded()
		}
	}
}
