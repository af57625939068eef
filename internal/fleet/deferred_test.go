package fleet_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jobrunner/jobrunner/internal/fleet"
	"github.com/jobrunner/jobrunner/job"
)

// TestDeferralReason: the reason is read back from job.DeferError's own
// text, wrapped or not, and nothing else reads as a deferral.
func TestDeferralReason(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text   string
		reason string
	}{
		{(&job.DeferError{Reason: "breaker_open", After: 30 * time.Second}).Error(), "breaker_open"},
		{(&job.DeferError{Reason: "upstream_busy", After: time.Hour, Err: errors.New("retry (later) for sure")}).Error(), "upstream_busy"},
		{fmt.Errorf("charge: %w", &job.DeferError{Reason: "rate_limited", After: time.Second}).Error(), "rate_limited"},
		{"boom", ""},
		{"deferred () for 1s", ""},
		{"deferred (a\nb) for 1s", ""},
		{"deferred (x)", ""},
	} {
		got, ok := fleet.DeferralReason(tc.text)
		if got != tc.reason || ok != (tc.reason != "") {
			t.Errorf("DeferralReason(%q) = %q, %v; want %q", tc.text, got, ok, tc.reason)
		}
	}
}
