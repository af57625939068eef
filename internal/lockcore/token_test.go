package lockcore

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestNewMarker(t *testing.T) {
	token, marker := newMarker("task-1")
	if len(token) != 32 || strings.Trim(token, "0123456789abcdef") != "" {
		t.Fatalf("token %q: want 32 hex digits", token)
	}
	if marker != markerValue(token, "task-1") || markerHolder(marker) != "task-1" {
		t.Fatalf("marker %q of token %q", marker, token)
	}
	if other, _ := newMarker("task-1"); other == token {
		t.Fatal("two markers share a token")
	}
	if a := testing.AllocsPerRun(100, func() { _, _ = newMarker("task-1") }); a != 1 {
		t.Fatalf("newMarker allocates %v times, want 1", a)
	}
}

func TestTwoInts(t *testing.T) {
	for _, c := range []struct {
		reply any
		want  [2]int64
		ok    bool
	}{
		{[]any{int64(1), int64(-1)}, [2]int64{1, -1}, true},
		{[]any{int64(0), int64(0)}, [2]int64{0, 0}, true},
		{[]any{int64(1)}, [2]int64{1, 0}, false},
		{[]any{"1", int64(1)}, [2]int64{}, false},
	} {
		cmd := redis.NewCmd(context.Background())
		cmd.SetVal(c.reply)
		got, err := twoInts(cmd)
		if (err == nil) != c.ok || c.ok && got != c.want {
			t.Errorf("%v: %v, %v", c.reply, got, err)
		}
	}
}
