package main

import (
	"strings"
	"testing"

	"github.com/jobrunner/jobrunner/internal/testkit/redistest"
)

// TestSentinelWithPasswords: behind Sentinel with a password on the
// sentinels and another on the data nodes (redistest's Sentinel setup),
// the CLI enqueues with both in the URL (the userinfo for the sentinels,
// password= for the data nodes), fails with a clear line when one is
// missing or wrong, and prints neither password, in errors or --dry-run.
func TestSentinelWithPasswords(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t, redistest.SentinelOptions{})
	url := s.URL()
	noData := strings.Replace(url, "&password="+redistest.SentinelDataPassword, "", 1)
	wrongData := strings.Replace(url, redistest.SentinelDataPassword, "wrong-data-pw", 1)
	wrongSentinel := strings.Replace(url, redistest.SentinelPassword, "wrong-sentinel-pw", 1)
	secrets := []string{redistest.SentinelDataPassword, redistest.SentinelPassword, "wrong-data-pw", "wrong-sentinel-pw"}

	for _, tc := range []struct {
		name, url string
		args      []string
		code      int
		want      string
	}{
		{"both passwords", url, []string{"demo.sleep", `{"ms":1}`}, 0, "enqueued "},
		{"dry run", url, []string{"--dry-run", "demo.sleep", `{"ms":1}`}, 0, ""},
		{"no data password", noData, []string{"demo.sleep", `{"ms":1}`}, 1, "authentication failed"},
		{"wrong data password", wrongData, []string{"demo.sleep", `{"ms":1}`}, 1, "authentication failed"},
		{"wrong sentinel password", wrongSentinel, []string{"demo.sleep", `{"ms":1}`}, 1, ""},
		{"a typo in a parameter", strings.Replace(url, "&password=", "&pasword=", 1), []string{"demo.sleep", `{"ms":1}`}, 2, `unknown parameter "pasword"`},
	} {
		code, out, errOut := runCmd(t, []string{"REDIS_URL=" + tc.url}, tc.args...)
		t.Logf("%s: exit %d, %s%s", tc.name, code, out, errOut)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %d and %q", tc.name, code, out, errOut, tc.code, tc.want)
		}
		for _, p := range secrets {
			if strings.Contains(out+errOut, p) {
				t.Errorf("%s: the password %q is printed: %q %q", tc.name, p, out, errOut)
			}
		}
		if code != 0 && !strings.Contains(errOut, "xxxxx") && tc.code != 2 {
			t.Errorf("%s: the error does not name the redacted URL: %q", tc.name, errOut)
		}
	}
}
