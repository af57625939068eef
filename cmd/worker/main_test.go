package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind (the subprocess
// tests' log readers end when their worker exits).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
