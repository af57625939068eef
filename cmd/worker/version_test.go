package main

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/jobrunner/jobrunner/internal/testkit/workertest"
)

// versionRE is the shape of `worker -version`: the module version, the
// commit (12 hex digits, then the commit time and "modified" when the
// tree was) or "commit unknown" when the build stamped none, and Go's
// version.
var versionRE = regexp.MustCompile(`^worker (\S+) \(commit (unknown|[0-9a-f]{12})[^)]*\) go1\.\d+`)

// TestVersionFlag runs `worker -version` on the built binary: one line
// from the build information, exit 0, nothing started.
func TestVersionFlag(t *testing.T) {
	out, err := exec.Command(workertest.Binary(t), "-version").Output()
	if err != nil {
		t.Fatalf("worker -version: %v", err)
	}
	line := strings.TrimSuffix(string(out), "\n")
	m := versionRE.FindStringSubmatch(line)
	if m == nil || strings.Contains(line, "\n") {
		t.Fatalf("worker -version printed %q", out)
	}
	// A build that stamped a commit names the one checked out.
	if m[2] != "unknown" {
		head, err := exec.Command("git", "rev-parse", "HEAD").Output()
		if err == nil && !strings.HasPrefix(string(head), m[2]) {
			t.Errorf("commit %s, but HEAD is %s", m[2], head)
		}
	}
}
