package builtin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/jobrunner/jobrunner/job/builtin"
)

// ExampleWebhook delivers a webhook to a receiver that does not know the
// hook: a 404 is permanent, so the worker archives the job, and the error
// carries the status and the start of the body but never the Authorization
// header.
func ExampleWebhook() {
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "no such hook; you sent "+r.Header.Get("Authorization"))
	}))
	defer receiver.Close()

	def := builtin.Webhook(builtin.Config{}) // loopback allowed: WebhookDenyPrivate is false
	task, err := def.NewTask(builtin.WebhookPayload{
		URL:            receiver.URL + "/hooks/42",
		Headers:        map[string]string{"Authorization": "Bearer s3cret-token"},
		Body:           json.RawMessage(`{"event":"order.paid"}`), // sent as JSON
		IdempotencyKey: "order-42-paid",
	})
	if err != nil {
		panic(err)
	}

	// What the worker does with the task:
	p, err := def.Prepare(task.Payload())
	if err != nil {
		panic(err)
	}
	fmt.Println("dedupe key:", p.DedupeKey)
	err = p.Run(context.Background())

	var se *builtin.WebhookStatusError
	if errors.As(err, &se) {
		fmt.Println("status:", se.StatusCode, "permanent:", se.Permanent())
		fmt.Println("excerpt:", se.Excerpt)
	}
	// Output:
	// dedupe key: order-42-paid
	// status: 404 permanent: true
	// excerpt: no such hook; you sent [redacted]
}
