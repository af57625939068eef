package job_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/jobrunner/jobrunner/job"
)

// FuzzDecode checks that strict decoding never panics, that every failure
// is a *PayloadError, and that whatever it accepts survives a round trip.
//
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 30s ./job/
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"email":"a@b"}`, `{"id":1,"ship":{"zip":"x"}}`, `{"id":"1"}`, `{"id":1,"x":2}`,
		`{"id":1} {}`, `[]`, `null`, ``, `{"id":1e400}`, `{"id":1,"tags":["a",null]}`, "\xff",
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
