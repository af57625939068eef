package lockcore

import (
	"strings"
	"testing"
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
