// Package builtin holds the job types the reference worker (cmd/worker)
// runs and the enqueue CLI (cmd/enqueue) knows: demo.sleep, a drill job for
// demos, drain tests and benchmarks, batch.report, a batch's callback that
// logs its outcome, and webhook.deliver, which sends an
// HTTP request.
//
// Both binaries build their registry from Specs, so the CLI rejects exactly
// the payloads the worker would.
//
// See docs/builtin-jobs.md for their payloads and behaviour.
package builtin
