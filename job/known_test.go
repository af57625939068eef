package job

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// Payload types with the features the fast path must mirror: nesting,
// pointers, slices and maps of structs, any, types that decode themselves,
// names differing only in case, recursion.
type (
	fastFlat struct {
		N    int     `json:"n"`
		Name string  `json:"name,omitempty"`
		Rate float64 // no tag: the Go name
		Skip string  `json:"-"`
		Dash string  `json:"-,"` //lint:ignore SA5008 encoding/json names this field "-": the case under test
		priv int     //lint:ignore U1000 an unexported field, which decoding must ignore
	}
	fastNested struct {
		ID    int                  `json:"id"`
		Ship  *fastAddr            `json:"ship"`
		Items []fastItem           `json:"items"`
		ByKey map[string]fastItem  `json:"by_key"`
		Tags  map[string]string    `json:"tags"`
		Extra any                  `json:"extra"`
		Raw   json.RawMessage      `json:"raw"`
		At    time.Time            `json:"at"`
		Grid  [][]fastItem         `json:"grid"`
		Sub   map[string]*fastAddr `json:"sub"`
	}
	fastAddr struct {
		Zip string `json:"zip"`
	}
	fastItem struct {
		SKU string `json:"sku"`
		Qty int    `json:"qty"`
	}
	fastCase struct {
		ID  int `json:"ID"`
		Id2 int `json:"id"`
	}
	fastTree struct {
		V    int        `json:"v"`
		Kids []fastTree `json:"kids"`
	}
	// Types the fast path leaves to the Decoder.
	fastEmbedded struct {
		fastAddr
		N int `json:"n"`
	}
)

// slowDecode is the reference: a json.Decoder with DisallowUnknownFields
// and nothing after the value.
func slowDecode[P any](data []byte) (P, bool) {
	var p P
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, false
	}
	if dec.More() {
		return p, false
	}
	if _, err := dec.Token(); err == nil {
		return p, false
	}
	return p, true
}

// agree fails t when the fast path accepts data that the Decoder refuses
// or decodes it differently.
func agree[P any](t *testing.T, data []byte) (fast bool) {
	t.Helper()
	var p P
	if !decodeFast(data, &p) {
		return false
	}
	want, ok := slowDecode[P](data)
	if !ok {
		t.Fatalf("%T: fast path accepted %q, the Decoder refuses it", p, data)
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("%T: fast path decoded %q as %+v, the Decoder as %+v", p, data, p, want)
	}
	return true
}

func TestFastPathAgreesWithDecoder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		data string
		fast bool // whether the fast path takes it
		try  func(*testing.T, []byte) bool
	}{
		{`{"n":1,"name":"a","Rate":2.5}`, true, agree[fastFlat]},
		{`{"N":1,"NAME":"a","rate":2.5}`, true, agree[fastFlat]}, // encoding/json ignores case
		{`{"n":1,"Skip":"x"}`, false, agree[fastFlat]},           // json:"-" is not a key
		{`{"-":"x"}`, true, agree[fastFlat]},                     // json:"-," is the key "-"
		{`{"priv":1}`, false, agree[fastFlat]},
		{`{"n":1,"x":2}`, false, agree[fastFlat]},
		{`{"n":"1"}`, false, agree[fastFlat]}, // wrong type: the Decoder names it
		{`{"n":1} {}`, false, agree[fastFlat]},
		{`{"n":1,}`, false, agree[fastFlat]},
		{`{"\u006e":1}`, true, agree[fastFlat]},
		{`{"\u0078":1}`, false, agree[fastFlat]},
		{`[1]`, false, agree[fastFlat]},
		{`{"id":1,"ship":{"zip":"z"},"items":[{"sku":"a","qty":1},{}],"by_key":{"k":{"sku":"b"}},` +
			`"tags":{"any":"thing"},"extra":{"free":{"form":[1]}},"raw":{"whatever":1},` +
			`"at":"2026-12-03T10:00:00Z","grid":[[{"qty":2}],[]],"sub":{"a":{"zip":"1"},"b":null}}`, true, agree[fastNested]},
		{`{"id":1,"ship":{"zip":"z","street":"s"}}`, false, agree[fastNested]},
		{`{"items":[{"sku":"a"},{"sku":"b","colour":"red"}]}`, false, agree[fastNested]},
		{`{"by_key":{"k":{"sku":"b","x":1}}}`, false, agree[fastNested]},
		{`{"grid":[[{"qty":2,"q":1}]]}`, false, agree[fastNested]},
		{`{"sub":{"a":{"zap":"1"}}}`, false, agree[fastNested]},
		{`{"ship":null,"items":null,"by_key":{}}`, true, agree[fastNested]},
		{`{"ID":1,"id":2}`, true, agree[fastCase]},
		{`{"Id":3}`, true, agree[fastCase]}, // the first field that folds equal: ID
		{`{"v":1,"kids":[{"v":2,"kids":[{"v":3}]}]}`, true, agree[fastTree]},
		{`{"v":1,"kids":[{"v":2,"kids":[{"w":3}]}]}`, false, agree[fastTree]},
		{`{"zip":"z","n":1}`, false, agree[fastEmbedded]},
	}
	for _, tt := range tests {
		if got := tt.try(t, []byte(tt.data)); got != tt.fast {
			t.Errorf("%s: fast path took it: %v, want %v", tt.data, got, tt.fast)
		}
	}
}

func TestNoFastPathForTwoFieldsWithOneName(t *testing.T) {
	t.Parallel()
	// Built at run time: go vet refuses the same json tag twice in source.
	typ := reflect.StructOf([]reflect.StructField{
		{Name: "A", Type: reflect.TypeFor[int](), Tag: `json:"x"`},
		{Name: "B", Type: reflect.TypeFor[int](), Tag: `json:"x"`},
	})
	if _, ok := shapeOf(typ); ok {
		t.Error("a struct with two fields named x has a fast path; encoding/json ignores both")
	}
	if _, ok := shapeOf(reflect.TypeFor[fastEmbedded]()); ok {
		t.Error("a struct with an embedded struct has a fast path")
	}
	if _, ok := shapeOf(reflect.TypeFor[map[string]int]()); ok {
		t.Error("a map payload has a fast path; only structs do")
	}
}

// FuzzFastPath checks that the fast path never accepts what the Decoder
// refuses and never decodes differently.
//
//	go test -run '^$' -fuzz FuzzFastPath -fuzztime 30s ./job/
func FuzzFastPath(f *testing.F) {
	for _, s := range []string{
		`{"n":1,"name":"a","Rate":2.5}`, `{"id":1,"ship":{"zip":"z"},"items":[{"sku":"a"}]}`,
		`{"by_key":{"k":{"sku":"b"}},"extra":{"a":[1,{"b":2}]}}`, `{"v":1,"kids":[{"v":2}]}`,
		`{"\u0069d":1}`, `{"ID":1,"iD":2}`, `{"n":1} x`, `{"grid":[[{"qty":2}]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		agree[fastFlat](t, data)
		agree[fastNested](t, data)
		agree[fastCase](t, data)
		agree[fastTree](t, data)
		agree[fastEmbedded](t, data)
	})
}
