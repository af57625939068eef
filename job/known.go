package job

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"unicode"
)

// Strict decoding has a fast path: a pooled json.Decoder without
// DisallowUnknownFields (decode.go), which allocates only the values it
// fills, followed by a check that every object key in the payload
// names a field of P, which is what the Decoder's DisallowUnknownFields
// would have checked. The fast path only accepts; anything it does not
// accept (a syntax error, a wrong type, an unknown field) is decoded again
// by the Decoder, whose error names the problem. A type whose field
// matching this check cannot mirror (embedded structs, two fields with one
// name, a tag name encoding/json would not take) has no fast path.

// shape is what a JSON value must look like to decode into a Go type without
// an unknown field: the keys an object may have and the shapes of what they
// hold. A nil *shape accepts anything below it (interfaces, types that
// decode themselves, scalars).
type shape struct {
	// fields are a struct's fields by JSON name, in the order
	// encoding/json tries them.
	fields []field
	// anyKey: a map; every key is allowed and each value has shape elem.
	anyKey bool
	// elem is the shape of a slice's, an array's or a map's elements.
	elem *shape
}

type field struct {
	name  string
	shape *shape
}

// shapes caches the shape of each payload type. A type's shape is a pure
// function of the type, like encoding/json's own field cache, so it is
// never invalidated.
var shapes sync.Map // reflect.Type -> *shapeEntry

type shapeEntry struct {
	s  *shape
	ok bool // false: the type has no fast path
}

// shapeOf returns the shape of t and whether t has a fast path.
func shapeOf(t reflect.Type) (*shape, bool) {
	if e, ok := shapes.Load(t); ok {
		e := e.(*shapeEntry)
		return e.s, e.ok
	}
	b := shapeBuilder{seen: map[reflect.Type]*shape{}}
	s := b.build(t)
	e := &shapeEntry{s: s, ok: !b.unsupported && t.Kind() == reflect.Struct}
	shapes.Store(t, e)
	return e.s, e.ok
}

type shapeBuilder struct {
	seen        map[reflect.Type]*shape // struct shapes built or in progress (recursive types)
	unsupported bool
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

func decodesItself(t reflect.Type) bool {
	if t.Implements(jsonUnmarshaler) || t.Implements(textUnmarshaler) {
		return true
	}
	p := reflect.PointerTo(t)
	return p.Implements(jsonUnmarshaler) || p.Implements(textUnmarshaler)
}

func (b *shapeBuilder) build(t reflect.Type) *shape {
	if decodesItself(t) {
		return nil // its own UnmarshalJSON sees the bytes; nothing to check
	}
	switch t.Kind() {
	case reflect.Pointer:
		return b.build(t.Elem())
	case reflect.Slice, reflect.Array:
		if e := b.build(t.Elem()); e != nil {
			return &shape{elem: e}
		}
		return nil
	case reflect.Map:
		if e := b.build(t.Elem()); e != nil {
			return &shape{anyKey: true, elem: e}
		}
		return nil
	case reflect.Struct:
		return b.buildStruct(t)
	}
	return nil // scalars and interfaces hold no keys of P's
}

func (b *shapeBuilder) buildStruct(t reflect.Type) *shape {
	if s, ok := b.seen[t]; ok {
		return s
	}
	s := &shape{} // a non-nil shape with no anyKey: every key must name a field
	b.seen[t] = s
	names := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			// encoding/json promotes an embedded struct's fields by rules
			// this check does not copy: decode such types the slow way.
			b.unsupported = true
			return s
		}
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = f.Name
		} else if !validTagName(name) {
			b.unsupported = true // encoding/json would use the Go name
			return s
		}
		if names[name] {
			b.unsupported = true // encoding/json drops both: leave it to it
			return s
		}
		names[name] = true
		s.fields = append(s.fields, field{name: name, shape: b.build(f.Type)})
	}
	return s
}

// validTagName reports whether encoding/json takes name from a tag as the
// field's JSON name (its isValidTag).
func validTagName(name string) bool {
	for _, c := range name {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// lookup returns the field a key names, as encoding/json picks it: the
// exact name first, else the first that matches without regard to case.
func (s *shape) lookup(key []byte) (*field, bool) {
	for i := range s.fields {
		if s.fields[i].name == string(key) {
			return &s.fields[i], true
		}
	}
	for i := range s.fields {
		if bytes.EqualFold([]byte(s.fields[i].name), key) {
			return &s.fields[i], true
		}
	}
	return nil, false
}

// knownKeys reports whether every object key in data, one valid JSON value,
// names a field where s expects one. It is the check DisallowUnknownFields
// makes, run after the fast path's decoder has accepted data.
func (s *shape) knownKeys(data []byte) bool {
	_, ok := s.check(data, skipSpace(data, 0))
	return ok
}

// check checks the value that starts at data[i] against s and returns the
// offset after it.
func (s *shape) check(data []byte, i int) (int, bool) {
	if i >= len(data) {
		return i, true
	}
	var ok bool
	switch data[i] {
	case '{':
		i, end := open(data, i, '}')
		for !end && i < len(data) {
			start := i
			var esc bool
			i, esc = skipString(data, i)
			var sub *shape
			switch {
			case s == nil:
			case s.anyKey:
				sub = s.elem
			default:
				key := data[start+1 : max(i-1, start+1)]
				if esc {
					key = []byte(keyText(data, keySpan{start: start, end: i, esc: true}))
				}
				f, known := s.lookup(key)
				if !known {
					return i, false
				}
				sub = f.shape
			}
			i = skipSpace(data, skipSpace(data, i)+1) // ':'
			if i, ok = sub.check(data, i); !ok {
				return i, false
			}
			i, end = after(data, i, '}')
		}
		return i, true
	case '[':
		var elem *shape
		if s != nil {
			elem = s.elem
		}
		i, end := open(data, i, ']')
		for !end && i < len(data) {
			if i, ok = elem.check(data, i); !ok {
				return i, false
			}
			i, end = after(data, i, ']')
		}
		return i, true
	case '"':
		i, _ = skipString(data, i)
		return i, true
	}
	for i < len(data) && !isDelim(data[i]) {
		i++
	}
	return i, true
}

// open steps into the container that starts at data[i] and ends with
// closer: it returns the offset of its first member, or the offset after
// it and true when it is empty.
func open(data []byte, i int, closer byte) (int, bool) {
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == closer {
		return i + 1, true
	}
	return i, false
}

// after steps over what follows a member of a container that ends with
// closer: it returns the offset of the next member, or the offset after
// the container and true.
func after(data []byte, i int, closer byte) (int, bool) {
	i = skipSpace(data, i)
	if i >= len(data) || data[i] == closer {
		return i + 1, true
	}
	return skipSpace(data, i+1), false // ','
}
