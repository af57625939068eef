package logkey

import (
	"strings"
	"testing"
)

func TestCap(t *testing.T) {
	short := strings.Repeat("k", Max)
	if got := Cap(short); got != short {
		t.Fatalf("a key of %d bytes was cut: %q", Max, got)
	}
	long := strings.Repeat("k", 300_000)
	if got, want := Cap(long), strings.Repeat("k", Max)+"…(300000 bytes)"; got != want {
		t.Fatalf("Cap(300 KB) = %q…, want %q…", got[:20], want[:20])
	}
	// A multi-byte character across the cut is not split.
	utf := strings.Repeat("k", Max-1) + "é" + strings.Repeat("k", 10)
	if got := Cap(utf); got != strings.Repeat("k", Max-1)+"…(211 bytes)" {
		t.Fatalf("Cap split a character: %q", got[Max-5:])
	}
}
