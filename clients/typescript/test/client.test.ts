// The client against the real thing: redis-server, the enqueue server and
// the worker built from this repository, and a proxy that loses or delays
// the server's answers.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { ApiError, Client, RetryExhaustedError } from "../src/index.js";
import { buildBinaries, freePort, Proc, Proxy, Redis, removeDir } from "./harness.js";

const token = "ts-test-token-0123456789";
let bins: ReturnType<typeof buildBinaries>;
let redis: Redis;
let server: Proc;
let worker: Proc;
let proxy: Proxy;

/** Fast retries, so that the tests take seconds. */
const fast = { maxAttempts: 6, baseDelay: 20, maxDelay: 300 };

before(async () => {
  bins = buildBinaries();
  redis = await Redis.start();
  server = new Proc(bins.enqueue, ["serve", "--request-timeout", "300ms"], {
    REDIS_URL: redis.url,
    ENQUEUE_API_ADDR: "127.0.0.1:0",
    ENQUEUE_API_TOKENS: token,
    LOG_LEVEL: "info",
  });
  const listening = await server.event("api.listening");
  proxy = new Proxy(`http://${String(listening["addr"])}`);
  await proxy.start();
  worker = new Proc(bins.worker, [], {
    REDIS_URL: redis.url,
    WORKER_QUEUES: "work=1",
    WORKER_HTTP_ADDR: `127.0.0.1:${await freePort()}`,
    WORKER_RETRY_SCHEDULE: "short",
    LOG_LEVEL: "info",
  });
  await worker.event("worker.started");
}, { timeout: 120000 });

after(async () => {
  await proxy?.close();
  const codes = await Promise.all([server?.stop(), worker?.stop()]);
  redis?.stop();
  if (bins) {
    removeDir(bins.dir);
  }
  assert.deepEqual(codes, [0, 0], "the server and the worker exit 0 on SIGTERM");
});

function client(opts: { token?: string; timeoutMs?: number } = {}): Client {
  return new Client({ baseUrl: proxy.url, token: opts.token ?? token, retry: fast, timeoutMs: opts.timeoutMs ?? 5000 });
}

/** The requests the proxy saw for path since mark. */
function seenSince(mark: number, path: string) {
  return proxy.seen.slice(mark).filter((s) => s.path === path);
}

test("a job enqueued through three lost responses exists exactly once", async () => {
  const mark = proxy.seen.length;
  proxy.plan = (n) => (n - mark < 3 ? { kind: "drop" } : { kind: "pass" });
  try {
    const res = await client().enqueue("demo.sleep", { ms: 1 }, { queue: "lost" });
    assert.equal(res.replayed, true, "the 4th attempt got the 1st attempt's answer");
    assert.equal(res.queue, "lost");
    const posts = seenSince(mark, "/v1/jobs");
    assert.equal(posts.length, 4);
    assert.deepEqual(posts.map((s) => s.action), ["drop", "drop", "drop", "pass"]);
    assert.deepEqual(posts.map((s) => s.status), [201, 200, 200, 200], "the server answered every attempt");
    assert.equal(new Set(posts.map((s) => s.idempotencyKey)).size, 1, "one idempotency key for all attempts");
    assert.equal(redis.tasks("lost"), 1);
    assert.equal(redis.cli("LRANGE", "asynq:{lost}:pending", "0", "-1"), res.task_id);
  } finally {
    proxy.plan = () => ({ kind: "pass" });
  }
});

test("an answer slower than the attempt's timeout is retried and the job exists once", async () => {
  const mark = proxy.seen.length;
  proxy.plan = (n) => (n === mark ? { kind: "delay", ms: 800 } : { kind: "pass" });
  try {
    const res = await client({ timeoutMs: 200 }).enqueue("demo.sleep", { ms: 1 }, { queue: "slow" });
    assert.ok(seenSince(mark, "/v1/jobs").length >= 2);
    assert.equal(res.replayed, true);
    assert.equal(redis.tasks("slow"), 1);
  } finally {
    proxy.plan = () => ({ kind: "pass" });
  }
});

test("enqueueMany through a lost response writes each job once", async () => {
  const mark = proxy.seen.length;
  proxy.plan = (n) => (n === mark ? { kind: "drop" } : { kind: "pass" });
  try {
    const jobs = Array.from({ length: 25 }, (_, i) => ({ type: "demo.sleep", payload: { ms: i }, options: { queue: "many" } }));
    jobs.push({ type: "demo.sleep", payload: { ms: -1 }, options: { queue: "many" } });
    const rep = await client().enqueueMany(jobs);
    assert.equal(rep.replayed, true);
    assert.equal(rep.enqueued, 25);
    assert.equal(rep.invalid, 1);
    assert.equal(rep.invalid_lines?.[0]?.line, 26);
    assert.equal(rep.tasks?.length, 25);
    assert.equal(redis.tasks("many"), 25);
  } finally {
    proxy.plan = () => ({ kind: "pass" });
  }
});

test("a validation error is not retried and names the field, as the CLI does", async () => {
  const mark = proxy.seen.length;
  const err = await client().enqueue("demo.sleep", { ms: -5 }).catch((e: unknown) => e);
  assert.ok(err instanceof ApiError);
  assert.equal(err.status, 422);
  assert.equal(err.slug, "invalid-payload");
  assert.equal(err.problem.field, "payload.ms");
  assert.match(err.problem.detail ?? "", /^job demo.sleep: invalid payload: field "ms"/);
  assert.equal(seenSince(mark, "/v1/jobs").length, 1);
  const unknown = await client().enqueue("no.such.type", {}).catch((e: unknown) => e);
  assert.ok(unknown instanceof ApiError && unknown.status === 404 && unknown.slug === "unknown-job-type");
});

test("a wrong token is 401 and not retried", async () => {
  const mark = proxy.seen.length;
  const err = await client({ token: "wrong-token-0123456789" }).enqueue("demo.sleep", { ms: 1 }).catch((e: unknown) => e);
  assert.ok(err instanceof ApiError);
  assert.equal(err.status, 401);
  assert.equal(seenSince(mark, "/v1/jobs").length, 1);
});

test("503 while Redis hangs is retried after Retry-After until Redis is back: one job", async () => {
  const mark = proxy.seen.length;
  redis.pause();
  const resume = setTimeout(() => redis.resume(), 1500);
  try {
    const res = await client().enqueue("demo.sleep", { ms: 1 }, { queue: "hung", retry: { maxAttempts: 10, maxDelay: 1000 } });
    const posts = seenSince(mark, "/v1/jobs");
    assert.ok(posts.length >= 2, `${posts.length} attempts`);
    assert.equal(posts[0]?.status, 503);
    assert.equal(res.queue, "hung");
    assert.equal(redis.tasks("hung"), 1);
  } finally {
    clearTimeout(resume);
    redis.resume();
  }
});

test("retries run out with RetryExhaustedError when Redis stays away", async () => {
  redis.pause();
  try {
    const err = await client()
      .enqueue("demo.sleep", { ms: 1 }, { queue: "gone", retry: { maxAttempts: 2, maxDelay: 50 } })
      .catch((e: unknown) => e);
    assert.ok(err instanceof RetryExhaustedError);
    assert.equal(err.attempts, 2);
    assert.ok(err.lastError instanceof ApiError && err.lastError.status === 503);
  } finally {
    redis.resume();
  }
});

test("waitFor returns the task completed, or archived with its last error", async () => {
  const c = client();
  const ok = await c.enqueue("demo.sleep", { ms: 10 }, { queue: "work", retention: "1h" });
  const done = await c.waitFor(ok, { timeoutMs: 15000 });
  assert.equal(done.state, "completed");
  assert.equal(done.attempts, 1);
  const bad = await c.enqueue("demo.sleep", { ms: 1, fail: "permanent" }, { queue: "work", retention: "1h" });
  const failed = await c.waitFor(bad, { timeoutMs: 15000 });
  assert.equal(failed.state, "archived");
  assert.ok((failed.last_error ?? "") !== "", "the last error is reported");
  const got = await c.getJob("work", ok.task_id);
  assert.equal(got.id, ok.task_id);
  const missing = await c.getJob("work", "no-such-task").catch((e: unknown) => e);
  assert.ok(missing instanceof ApiError && missing.status === 404);
});
