package runner

import "testing"

func TestRedisVersion(t *testing.T) {
	t.Parallel()
	info := "# Server\r\nredis_version:6.2.14\r\nredis_git_sha1:00000000\r\n"
	v, ok := redisVersion(info)
	if !ok || v != "6.2.14" {
		t.Fatalf("redisVersion = %q, %v", v, ok)
	}
	for v, want := range map[string]bool{"6.2.14": true, "5.0.0": true, "7.0.15": false, "7.4.2": false, "8.0.0": false, "": false, "x": false} {
		if got := tooOld(v); got != want {
			t.Errorf("tooOld(%q) = %v, want %v", v, got, want)
		}
	}
	if _, ok := redisVersion("# Server\r\nuptime:1\r\n"); ok {
		t.Error("a reply without redis_version gave a version")
	}
}
