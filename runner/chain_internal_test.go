package runner

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocumentedLayerOrder holds the middleware order that package doc and
// Use's doc state to the chain itself, so the two cannot drift.
func TestDocumentedLayerOrder(t *testing.T) {
	var chain []string
	for _, l := range (&Runner{}).layers() {
		chain = append(chain, l.name)
	}
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, m := range regexp.MustCompile(`(?m)^//\s+\d+\. (\w+):`).FindAllStringSubmatch(string(doc), -1) {
		listed = append(listed, m[1])
	}
	if !slices.Equal(listed, chain) {
		t.Errorf("doc.go lists the layers %v; the chain is %v", listed, chain)
	}
	src, err := os.ReadFile("chain.go")
	if err != nil {
		t.Fatal(err)
	}
	want := "(" + strings.Join(chain, ", ") + ", then yours)"
	if !strings.Contains(strings.Join(strings.Fields(strings.ReplaceAll(string(src), "//", "")), " "), want) {
		t.Errorf("Use's doc does not state the order %s", want)
	}
}
