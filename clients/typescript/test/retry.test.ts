import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ApiError,
  backoffDelay,
  HttpError,
  isRetryableError,
  parseRetryAfter,
  RetryExhaustedError,
  retryWithBackoff,
  TimeoutError,
} from "../src/index.js";

const headers = (h: Record<string, string> = {}): Headers => new Headers(h);

test("backoff doubles from baseDelay and is capped at maxDelay", () => {
  const cfg = { baseDelay: 1000, maxDelay: 30000, jitter: false };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 40].map((n) => backoffDelay(n, cfg)),
    [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000],
  );
});

test("full jitter draws between 0 and the capped ceiling", () => {
  const top = 0.999999;
  assert.equal(backoffDelay(3, { random: () => 0 }), 0);
  assert.ok(backoffDelay(3, { random: () => top }) <= 4000 && backoffDelay(3, { random: () => top }) > 3999);
  assert.equal(backoffDelay(3, { random: () => 0.5 }), 2000);
  // Clamped after the jitter: never over maxDelay, however late the retry.
  for (let n = 1; n < 64; n++) {
    assert.ok(backoffDelay(n, { random: () => top, maxDelay: 30000 }) <= 30000);
  }
});

test("Retry-After replaces the backoff, clamped to maxDelay", () => {
  assert.equal(backoffDelay(1, { baseDelay: 1000 }, 5000), 5000);
  assert.equal(backoffDelay(1, { maxDelay: 2000 }, 120000), 2000);
  assert.equal(backoffDelay(5, {}, 0), 0);
});

test("Retry-After is whole seconds or an HTTP date", () => {
  const now = Date.parse("2026-01-02T15:04:05Z");
  assert.equal(parseRetryAfter("3", now), 3000);
  assert.equal(parseRetryAfter(" 0 ", now), 0);
  assert.equal(parseRetryAfter("Fri, 02 Jan 2026 15:04:15 GMT", now), 10000);
  assert.equal(parseRetryAfter("Fri, 02 Jan 2026 15:00:00 GMT", now), 0);
  assert.equal(parseRetryAfter("soon", now), undefined);
  assert.equal(parseRetryAfter(null, now), undefined);
  assert.equal(new HttpError(503, headers({ "retry-after": "2" }), "").retryAfterMs, 2000);
});

test("isRetryableError: network errors, timeouts and 408/425/429/5xx; never other 4xx or cancellation", () => {
  for (const status of [408, 425, 429, 500, 502, 503, 504]) {
    assert.equal(isRetryableError(new HttpError(status, headers(), "")), true, String(status));
  }
  for (const status of [400, 401, 403, 404, 409, 413, 422, 501]) {
    assert.equal(isRetryableError(new HttpError(status, headers(), "")), false, String(status));
  }
  assert.equal(isRetryableError({ status: 503 }), true, "any error with a status");
  assert.equal(isRetryableError(new TypeError("fetch failed")), true);
  assert.equal(isRetryableError(new TypeError("Failed to fetch")), true);
  assert.equal(isRetryableError(new TypeError("x is not a function")), false);
  assert.equal(isRetryableError(new TimeoutError("slow")), true);
  assert.equal(isRetryableError(new DOMException("aborted", "AbortError")), false);
  assert.equal(isRetryableError(new RetryExhaustedError(3, new Error("x"))), false);
  assert.equal(isRetryableError("string"), false);
  const invalid = new ApiError(422, headers(), JSON.stringify({ type: "x#invalid-payload", title: "Invalid payload", status: 422 }));
  assert.equal(isRetryableError(invalid), false);
  assert.equal(invalid.slug, "invalid-payload");
});

test("retries until success, with the attempt number", async () => {
  const seen: number[] = [];
  const got = await retryWithBackoff(
    async ({ attempt }) => {
      seen.push(attempt);
      if (attempt < 3) {
        throw new HttpError(503, headers(), "");
      }
      return "ok";
    },
    { baseDelay: 1 },
  );
  assert.equal(got, "ok");
  assert.deepEqual(seen, [1, 2, 3]);
});

test("gives up after maxAttempts with RetryExhaustedError carrying attempts and lastError", async () => {
  let calls = 0;
  const last = new HttpError(502, headers(), "bad gateway");
  const err = await retryWithBackoff(
    async () => {
      calls++;
      throw last;
    },
    { maxAttempts: 4, baseDelay: 1 },
  ).catch((e: unknown) => e);
  assert.ok(err instanceof RetryExhaustedError);
  assert.equal(err.attempts, 4);
  assert.equal(err.lastError, last);
  assert.equal(calls, 4);
});

test("defaults to 3 attempts", async () => {
  let calls = 0;
  await assert.rejects(
    retryWithBackoff(
      async () => {
        calls++;
        throw new TypeError("fetch failed");
      },
      { baseDelay: 0 },
    ),
    RetryExhaustedError,
  );
  assert.equal(calls, 3);
});

test("a validation error is thrown at once, as is", async () => {
  let calls = 0;
  const invalid = new HttpError(422, headers(), "");
  await assert.rejects(
    retryWithBackoff(async () => {
      calls++;
      throw invalid;
    }),
    (e: unknown) => e === invalid,
  );
  assert.equal(calls, 1);
});

test("shouldRetry decides", async () => {
  let calls = 0;
  await assert.rejects(
    retryWithBackoff(
      async () => {
        calls++;
        throw new Error("custom");
      },
      { maxAttempts: 5, baseDelay: 0 },
      (_err, attempt) => attempt < 2,
    ),
    /custom/,
  );
  assert.equal(calls, 2);
});

test("Retry-After sets the wait", async () => {
  const delays: number[] = [];
  const start = Date.now();
  await retryWithBackoff(
    async ({ attempt }) => {
      if (attempt === 1) {
        throw new HttpError(429, headers({ "retry-after": "1" }), "");
      }
    },
    { baseDelay: 0, onRetry: (i) => delays.push(i.delayMs) },
  );
  assert.deepEqual(delays, [1000]);
  assert.ok(Date.now() - start >= 990, "waited the Retry-After");
});

test("an AbortSignal ends a wait at once with its reason", async () => {
  const ctl = new AbortController();
  const start = Date.now();
  setTimeout(() => ctl.abort(new Error("stop")), 50);
  await assert.rejects(
    retryWithBackoff(
      async () => {
        throw new HttpError(503, headers(), "");
      },
      { baseDelay: 10000, jitter: false, signal: ctl.signal },
    ),
    /stop/,
  );
  assert.ok(Date.now() - start < 1000, "the 10s wait was cut short");
  const aborted = AbortSignal.abort(new Error("before"));
  let calls = 0;
  await assert.rejects(
    retryWithBackoff(
      async () => {
        calls++;
      },
      { signal: aborted },
    ),
    /before/,
  );
  assert.equal(calls, 0);
});

test("bad configs are refused", async () => {
  await assert.rejects(retryWithBackoff(async () => 1, { maxAttempts: 0 }), RangeError);
  await assert.rejects(retryWithBackoff(async () => 1, { baseDelay: -1 }), RangeError);
});
