package lockcore_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/lockcore"
)

// TestErrorsCapLongKeys: keys come from payloads; an error text quotes at
// most 200 bytes of one, with its length, so that a log line stays small.
func TestErrorsCapLongKeys(t *testing.T) {
	long := strings.Repeat("k", 300_000)
	for _, err := range []error{
		&lockcore.NotObtainedError{Key: long, Wait: time.Second},
		&lockcore.LostError{Key: long, Reason: lockcore.LostGone},
		&lockcore.StoreError{Op: "acquire", Key: long, Err: errors.New("down")},
	} {
		if msg := err.Error(); len(msg) > 400 || !strings.Contains(msg, "…(300000 bytes)") {
			t.Errorf("%T: %d bytes: %.100s", err, len(msg), msg)
		}
	}
}
