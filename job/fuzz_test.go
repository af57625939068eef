package job_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/jobrunner/jobrunner/internal/testkit/jsontest"
	"github.com/jobrunner/jobrunner/job"
)

// FuzzDecode checks that strict decoding never panics, that every failure
// is a *PayloadError, that it never accepts null or a key twice in one
// object (the enqueue CLI refuses the same payloads, through the same
// decoder), and that whatever it accepts survives a round trip.
//
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 30s ./job/
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"email":"a@b"}`, `{"id":1,"ship":{"zip":"x"}}`, `{"id":"1"}`, `{"id":1,"x":2}`,
		`{"id":1} {}`, `[]`, `null`, ``, `{"id":1e400}`, `{"id":1,"tags":["a",null]}`, "\xff",
		` null `, `{"id":1,"id":2}`, `{"id":1,"ship":{"zip":"a","zip":"b"}}`, `{"id":1,"\u0069d":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := job.Decode[order](data)
		if err != nil {
			var pe *job.PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is %T, want *PayloadError", err, err)
			}
			return
		}
		if string(bytes.TrimSpace(data)) == "null" {
			t.Fatal("accepted null")
		}
		// What Decode accepts, a json.Decoder that refuses unknown fields
		// and trailing data accepts too, with the same value: the pooled
		// fast path must not differ from it, whatever came before.
		var ref order
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ref); err != nil {
			t.Fatalf("accepted %q, which a strict json.Decoder refuses: %v", data, err)
		}
		if _, err := dec.Token(); err == nil {
			t.Fatalf("accepted %q with trailing data", data)
		}
		if !reflect.DeepEqual(p, ref) {
			t.Fatalf("decoded %q as %+v, a json.Decoder as %+v", data, p, ref)
		}
		if jsontest.HasDuplicateKey(data) {
			t.Fatalf("accepted a duplicate key: %s", data)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		q, err := job.Decode[order](b)
		if err != nil {
			t.Fatalf("re-decoding accepted payload %s: %v", b, err)
		}
		b2, _ := json.Marshal(q)
		if string(b) != string(b2) {
			t.Fatalf("round trip changed %s to %s", b, b2)
		}
	})
}
