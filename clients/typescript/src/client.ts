import { ApiError, NetworkError, TimeoutError, WaitTimeoutError } from "./errors.js";
import { isRetryableError, retryWithBackoff, sleep, type RetryConfig } from "./retry.js";
import type { BulkReport, Enqueued, JobOptions, JobRequest, Task } from "./schema.js";

/** How a Client reaches the API. */
export interface ClientOptions {
  /** The server's base URL, e.g. "http://127.0.0.1:8080". */
  baseUrl: string;
  /** A bearer token of the server (ENQUEUE_API_TOKENS); none for a loopback server without tokens. */
  token?: string;
  /** The retries of every call; a call's own `retry` overrides fields. Defaults to retryDefaults. */
  retry?: RetryConfig;
  /** How long one attempt may wait for its answer, in milliseconds. Defaults to 10000. */
  timeoutMs?: number;
  /** The fetch to use. Defaults to globalThis.fetch. */
  fetch?: typeof fetch;
}

/** Options of one call. */
export interface CallOptions {
  /** Cancels the call, its retries included. */
  signal?: AbortSignal;
  /** Fields that override the client's RetryConfig for this call. */
  retry?: RetryConfig;
  /** A W3C traceparent the tasks carry, to continue a trace in the workers. */
  traceparent?: string;
}

/** Options of enqueue: the task's options (queue, max_retry, ...) and the call's. */
export interface EnqueueOptions extends JobOptions, CallOptions {
  /**
   * The key of this logical enqueue: sent with every retry, so that the
   * server enqueues the job once. Defaults to a random UUID per call.
   */
  idempotencyKey?: string;
}

/** Options of enqueueMany. */
export interface EnqueueManyOptions extends CallOptions {
  /** Refuse the whole batch (ApiError 422, nothing enqueued) when any job is invalid. */
  failFast?: boolean;
  /** As for enqueue: one key for the batch, reused by its retries. */
  idempotencyKey?: string;
}

/** Options of waitFor. */
export interface WaitOptions extends CallOptions {
  /** Give up after this many milliseconds (WaitTimeoutError). Defaults to no limit. */
  timeoutMs?: number;
  /** The first interval between two reads; it doubles up to maxPollIntervalMs. Defaults to 50. */
  pollIntervalMs?: number;
  /** Defaults to 1000. */
  maxPollIntervalMs?: number;
}

/** What enqueue returns. */
export interface EnqueueResult extends Enqueued {
  /** The answer of an earlier attempt with the same idempotency key: nothing new was enqueued. */
  replayed: boolean;
}

/** What enqueueMany returns. */
export interface EnqueueManyResult extends BulkReport {
  /** As for EnqueueResult. */
  replayed: boolean;
}

/** The call options that are not task options. */
const callKeys = new Set(["signal", "retry", "traceparent", "idempotencyKey"]);

/** The states after which a task changes no more. */
const finalStates = new Set(["completed", "archived"]);

/**
 * A client of the jobrunner enqueue API (`enqueue serve`). Every call is
 * retried with retryWithBackoff on network errors, timeouts and 408, 425,
 * 429, 500, 502, 503 and 504 answers (and 409 idempotency-in-progress),
 * honouring Retry-After; never on another 4xx. Enqueues carry one
 * idempotency key per logical call, reused by its retries, so a retry never
 * enqueues twice.
 */
export class Client {
  readonly #base: string;
  readonly #token: string | undefined;
  readonly #retry: RetryConfig;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: ClientOptions) {
    this.#base = options.baseUrl.replace(/\/+$/, "");
    this.#token = options.token;
    this.#retry = options.retry ?? {};
    this.#timeoutMs = options.timeoutMs ?? 10000;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** Enqueues one job of type with payload; options set its queue, retries, schedule, task ID... */
  async enqueue(type: string, payload: unknown = {}, options: EnqueueOptions = {}): Promise<EnqueueResult> {
    const jobOptions: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(options)) {
      if (!callKeys.has(k) && v !== undefined) {
        jobOptions[k] = v;
      }
    }
    const job: JobRequest = { type, payload, ...(Object.keys(jobOptions).length > 0 ? { options: jobOptions as JobOptions } : {}) };
    const key = options.idempotencyKey ?? newIdempotencyKey();
    const { status, body } = await this.#call("POST", "/v1/jobs", JSON.stringify(job), { "Idempotency-Key": key }, options);
    return { ...(JSON.parse(body) as Enqueued), replayed: status === 200 };
  }

  /** Enqueues many jobs in one request; the report says which lines were invalid, duplicates or written. */
  async enqueueMany(jobs: readonly JobRequest[], options: EnqueueManyOptions = {}): Promise<EnqueueManyResult> {
    const key = options.idempotencyKey ?? newIdempotencyKey();
    const path = options.failFast ? "/v1/jobs:bulk?fail_fast=true" : "/v1/jobs:bulk";
    const { headers, body } = await this.#call("POST", path, JSON.stringify(jobs), { "Idempotency-Key": key }, options);
    return { ...(JSON.parse(body) as BulkReport), replayed: headers.get("idempotent-replayed") === "true" };
  }

  /** Reads a task: its state, attempts, last error (sanitized) and result. */
  async getJob(queue: string, taskId: string, options: CallOptions = {}): Promise<Task> {
    const { body } = await this.#call("GET", `/v1/jobs/${encodeURIComponent(queue)}/${encodeURIComponent(taskId)}`, undefined, {}, options);
    return JSON.parse(body) as Task;
  }

  /**
   * Waits until the task is completed or archived and returns it; check its
   * state (archived: it failed for good, last_error says why). Polls every
   * 50ms at first, doubling up to 1s, as `enqueue --wait` does.
   */
  async waitFor(task: Pick<Enqueued, "queue" | "task_id">, options: WaitOptions = {}): Promise<Task> {
    const end = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
    let interval = options.pollIntervalMs ?? 50;
    const maxInterval = options.maxPollIntervalMs ?? 1000;
    for (;;) {
      const t = await this.getJob(task.queue, task.task_id, options);
      if (finalStates.has(t.state)) {
        return t;
      }
      const left = end - Date.now();
      if (left <= 0) {
        throw new WaitTimeoutError(`task ${task.task_id} still ${t.state} after ${options.timeoutMs}ms`, t);
      }
      await sleep(Math.min(interval, left), options.signal);
      interval = Math.min(2 * interval, maxInterval);
    }
  }

  /** One call with its retries; resolves with a 2xx answer, rejects with an ApiError for the others. */
  async #call(method: string, path: string, body: string | undefined, headers: Record<string, string>, options: CallOptions) {
    const h: Record<string, string> = { Accept: "application/json, application/problem+json", ...headers };
    if (body !== undefined) {
      h["Content-Type"] = "application/json";
    }
    if (this.#token !== undefined) {
      h["Authorization"] = `Bearer ${this.#token}`;
    }
    if (options.traceparent !== undefined) {
      h["traceparent"] = options.traceparent;
    }
    const config: RetryConfig = { ...this.#retry, ...options.retry };
    if (options.signal !== undefined) {
      config.signal = options.signal;
    }
    return retryWithBackoff(
      ({ signal }) => this.#attempt(method, this.#base + path, body, h, signal),
      config,
      isRetryableApiError,
    );
  }

  /** One attempt, bounded by timeoutMs, its body read. */
  async #attempt(method: string, url: string, body: string | undefined, headers: Record<string, string>, signal: AbortSignal | undefined) {
    const ctl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctl.abort();
    }, this.#timeoutMs);
    const onAbort = (): void => ctl.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const res = await this.#fetch(url, { method, headers, ...(body !== undefined ? { body } : {}), signal: ctl.signal });
      const text = await res.text();
      if (!res.ok) {
        throw new ApiError(res.status, res.headers, text);
      }
      return { status: res.status, headers: res.headers, body: text };
    } catch (err) {
      if (err instanceof ApiError) {
        throw err;
      }
      if (signal?.aborted) {
        throw signal.reason;
      }
      if (timedOut) {
        throw new TimeoutError(`${method} ${url}: no answer within ${this.#timeoutMs}ms`, { cause: err });
      }
      throw new NetworkError(`${method} ${url}: ${err instanceof Error ? err.message : String(err)}`, err);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }
}

/**
 * The client's retry rule: isRetryableError, and a 409 whose problem is
 * idempotency-in-progress (the same request still runs on the server).
 */
export function isRetryableApiError(err: unknown): boolean {
  return isRetryableError(err) || (err instanceof ApiError && err.status === 409 && err.slug === "idempotency-in-progress");
}

/** A random UUID, from crypto.randomUUID where the platform has it. */
export function newIdempotencyKey(): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string; getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (c?.randomUUID) {
    return c.randomUUID();
  }
  const b = new Uint8Array(16);
  if (c?.getRandomValues) {
    c.getRandomValues(b);
  } else {
    for (let i = 0; i < b.length; i++) {
      b[i] = Math.floor(Math.random() * 256);
    }
  }
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
