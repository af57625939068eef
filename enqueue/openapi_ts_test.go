package enqueue

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// tsSchemaPath is the TypeScript client's copy of the document's schemas.
const tsSchemaPath = "../clients/typescript/src/schema.ts"

// TestTypeScriptSchema: the TypeScript client's types are generated from
// openapi.yaml's schemas (go test ./enqueue -run TestTypeScriptSchema
// -update rewrites them), so the client cannot drift from the server.
func TestTypeScriptSchema(t *testing.T) {
	t.Parallel()
	doc, _ := loadContract(t, "")
	got := tsSchemas(t, doc)
	if *update {
		if err := os.WriteFile(tsSchemaPath, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(tsSchemaPath)
	if err != nil || string(want) != got {
		t.Fatalf("%s differs from what openapi.yaml generates (go test ./enqueue -run TestTypeScriptSchema -update): %v", tsSchemaPath, err)
	}
}

// tsSchemas returns the TypeScript declarations of the document's schemas.
// It knows the subset of JSON Schema the document uses and fails the test
// on anything else, so that the document cannot grow a construct the
// client's types would silently get wrong.
func tsSchemas(t *testing.T, doc *openapi3.T) string {
	var b strings.Builder
	b.WriteString("// Code generated from enqueue/openapi.yaml by the enqueue package's TestTypeScriptSchema\n")
	b.WriteString("// (go test ./enqueue -run TestTypeScriptSchema -update). DO NOT EDIT.\n")
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range doc.Components.Schemas {
			if !yield(n) {
				return
			}
		}
	})
	for _, name := range names {
		s := doc.Components.Schemas[name].Value
		b.WriteString("\n")
		writeDoc(&b, "", s.Description)
		if s.Type.Is("object") {
			fmt.Fprintf(&b, "export interface %s {\n", name)
			for _, p := range slices.Sorted(func(yield func(string) bool) {
				for n := range s.Properties {
					if !yield(n) {
						return
					}
				}
			}) {
				ps := s.Properties[p]
				desc := ps.Value.Description
				if ps.Ref != "" {
					desc = ""
				}
				writeDoc(&b, "  ", desc)
				opt := "?"
				if slices.Contains(s.Required, p) {
					opt = ""
				}
				fmt.Fprintf(&b, "  %s%s: %s;\n", p, opt, tsType(t, name+"."+p, ps))
			}
			if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
				b.WriteString("  /** Members this version does not know. */\n  [member: string]: unknown;\n")
			}
			b.WriteString("}\n")
			continue
		}
		fmt.Fprintf(&b, "export type %s = %s;\n", name, tsType(t, name, openapi3.NewSchemaRef("", s)))
	}
	return b.String()
}

func writeDoc(b *strings.Builder, indent, desc string) {
	if desc = strings.TrimSpace(desc); desc != "" {
		fmt.Fprintf(b, "%s/** %s */\n", indent, strings.ReplaceAll(desc, "*/", "*\\/"))
	}
}

// tsType returns the TypeScript type of a schema.
func tsType(t *testing.T, where string, ref *openapi3.SchemaRef) string {
	if ref.Ref != "" {
		return ref.Ref[strings.LastIndex(ref.Ref, "/")+1:]
	}
	s := ref.Value
	switch {
	case s.Type == nil || len(*s.Type) == 0:
		return "unknown" // any JSON value
	case len(*s.Type) > 1:
		t.Fatalf("%s: type %v: the generator knows one type per schema", where, *s.Type)
	case s.Type.Is("string") && len(s.Enum) > 0:
		var lits []string
		for _, e := range s.Enum {
			lits = append(lits, strconv.Quote(fmt.Sprint(e)))
		}
		return strings.Join(lits, " | ")
	case s.Type.Is("string"):
		return "string"
	case s.Type.Is("integer"), s.Type.Is("number"):
		return "number"
	case s.Type.Is("boolean"):
		return "boolean"
	case s.Type.Is("array"):
		return tsType(t, where+"[]", s.Items) + "[]"
	}
	t.Fatalf("%s: type %v: inline objects are not generated; make it a component", where, *s.Type)
	return ""
}
