package jsontest

import "testing"

func TestHasDuplicateKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		`{}`: false,
		`{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}`: false,
		`{"a":1,"a":2}`:                 true,
		`{"a":{"b":[1,{"c":1,"c":2}]}}`: true,
		`{"a":[],"b":{},"a":null}`:      true,
		`{"a\u0041":1,"aA":2}`:          true,
		`{"s":"{\"a\":1,\"a\":2}"}`:     false,
		`[{"a":1},{"a":1}]`:             false,
		`{"a":1,"a"`:                    false, // invalid
	} {
		if got := HasDuplicateKey([]byte(in)); got != want {
			t.Errorf("HasDuplicateKey(%s) = %v, want %v", in, got, want)
		}
	}
}
