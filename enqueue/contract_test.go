package enqueue

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// The API's contract is enqueue/openapi.yaml. Every request the tests
// send through a bundle's client is checked against it: the answer must
// be documented for its operation and status, headers and body included,
// and a request the server accepted must match the documented request.
// When the whole package runs, TestMain also fails if a documented answer
// was never produced (contractUntested lists the few that are not).

// loadContract loads and validates the OpenAPI document, with serverURL
// as its only server.
func loadContract(t testing.TB, serverURL string) (*openapi3.T, routers.Router) {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapiDoc)
	if err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi.yaml is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi.yaml does not validate: %v", err)
	}
	if serverURL != "" {
		doc.Servers = openapi3.Servers{{URL: serverURL}}
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return doc, router
}

// contractTransport checks each exchange against the document.
type contractTransport struct {
	t      testing.TB
	router routers.Router
	base   http.RoundTripper
}

func (c *contractTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	res, err := c.base.RoundTrip(req)
	if err != nil {
		return res, err
	}
	resBody, err := io.ReadAll(res.Body)
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(resBody))
	if err != nil {
		return res, err
	}
	c.check(req, reqBody, res, resBody)
	return res, nil
}

func (c *contractTransport) check(req *http.Request, reqBody []byte, res *http.Response, resBody []byte) {
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		// Not an operation of the document: a problem all the same.
		if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
			c.t.Errorf("contract: %s %s (no operation) answered %d with %q, want a problem", req.Method, req.URL.Path, res.StatusCode, ct)
		}
		return
	}
	opts := &openapi3filter.Options{
		IncludeResponseStatus: true,
		MultiError:            true,
		AuthenticationFunc:    func(context.Context, *openapi3filter.AuthenticationInput) error { return nil },
	}
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: opts}
	if res.StatusCode < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			c.t.Errorf("contract: accepted request %s %s does not match the document: %v\n%s", req.Method, req.URL, err, reqBody)
		}
	}
	rin := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: res.StatusCode, Header: res.Header,
		Body: io.NopCloser(bytes.NewReader(resBody)), Options: opts}
	if err := openapi3filter.ValidateResponse(context.Background(), rin); err != nil {
		c.t.Errorf("contract: answer %d to %s %s does not match the document: %v\n%s", res.StatusCode, req.Method, req.URL, err, resBody)
	}
	contractSeen.add(route.Operation.OperationID, res.StatusCode)
}

// contractSeen records the (operation, status) pairs the tests produced.
var contractSeen = &seenSet{m: map[string]bool{}}

type seenSet struct {
	mu sync.Mutex
	m  map[string]bool
}

func (s *seenSet) add(op string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[fmt.Sprintf("%s %d", op, status)] = true
}

// contractUntested lists the documented answers no test produces, and why.
var contractUntested = map[string]string{
	"enqueue 408":     "the body must arrive within the server's 30s read timeout: too slow for a unit test",
	"enqueueMany 408": "as for enqueue",
	"enqueue 500":     "a handler panic; no input makes one",
	"enqueueMany 500": "as for enqueue",
	"getJob 500":      "as for enqueue",
}

// coverageRun runs the tests, then checks that every documented answer
// was produced when the whole package ran.
type coverageRun struct{ m *testing.M }

func (c coverageRun) Run() int {
	code := c.m.Run()
	if code != 0 || flag.Lookup("test.run").Value.String() != "" || flag.Lookup("test.skip").Value.String() != "" || testing.Short() {
		return code
	}
	doc, err := openapi3.NewLoader().LoadFromData(openapiDoc)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var missing []string
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for status := range op.Responses.Map() {
				k := op.OperationID + " " + status
				if !contractSeen.m[k] && contractUntested[k] == "" {
					missing = append(missing, k)
				}
			}
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		fmt.Fprintf(os.Stderr, "contract: documented answers no test produced: %s\n", strings.Join(missing, ", "))
		return 1
	}
	return 0
}
