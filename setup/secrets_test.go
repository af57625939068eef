package setup

import (
	"slices"
	"testing"
)

func TestRedisSecrets(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string][]string{
		"redis://h:1":                                nil,
		"redis://u:s3cret-pw@h:1/0":                  {"s3cret-pw"},
		"redis-sentinel://:sent-pw@h:1,h:2?master=m": {"sent-pw"},
		"redis-cluster://u:clu-pw@h:1?addr=h:2":      {"clu-pw"},
		"rediss://default:tls-pw@h:1":                {"tls-pw"},
	} {
		opts, err := ParseRedisURL(raw)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		got := RedisSecrets(opts)
		if !slices.Equal(got, want) {
			t.Errorf("RedisSecrets(%s) = %q, want %q", raw, got, want)
		}
	}
}
