// Package testkit gathers the module's test harnesses, apart from the
// runtime helpers beside it in internal/: dedicated Redis servers and
// topologies (redistest), the worker binary as a subprocess (workertest),
// the drain acceptance suite (draintest), the fault-injection suite and
// chaos run (faulttest), an OTLP receiver (otlptest), log capture
// (logtest), JSON reference checks (jsontest) and the fake clock (clock).
// Nothing outside tests imports them. See docs/testing.md.
package testkit
