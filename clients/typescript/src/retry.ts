// retryWithBackoff: exponential backoff with full jitter, for any async
// call (a fetch included). No dependencies: timers and AbortSignal only.

/** How retryWithBackoff retries. Every field is optional. */
export interface RetryConfig {
  /** Attempts in all, the first one included. Defaults to 3. */
  maxAttempts?: number;
  /**
   * The backoff ceiling of the first retry, in milliseconds; it doubles with
   * each retry (1s, 2s, 4s, ...). Defaults to 1000.
   */
  baseDelay?: number;
  /**
   * The longest wait between two attempts, in milliseconds, applied after the
   * jitter and to a server's Retry-After too. Defaults to 30000.
   */
  maxDelay?: number;
  /**
   * Full jitter (true): each wait is drawn uniformly between 0 and its
   * ceiling, so that clients that failed together do not retry together.
   * false waits the ceiling itself. Defaults to true.
   */
  jitter?: boolean;
  /** Cancels the call: a wait in progress ends at once and fn receives it. */
  signal?: AbortSignal;
  /** Called before each wait, with the error that caused it. */
  onRetry?: (info: RetryInfo) => void;
  /** A random number in [0, 1), for the jitter. Defaults to Math.random. */
  random?: () => number;
}

/** What onRetry is told before a wait. */
export interface RetryInfo {
  /** The attempt that failed, from 1. */
  attempt: number;
  /** Its error. */
  error: unknown;
  /** The wait before the next attempt, in milliseconds. */
  delayMs: number;
}

/** What fn receives on each attempt. */
export interface AttemptContext {
  /** The attempt, from 1. */
  attempt: number;
  /** The caller's signal, to pass to fetch. */
  signal: AbortSignal | undefined;
}

/** The defaults of RetryConfig. */
export const retryDefaults = {
  maxAttempts: 3,
  baseDelay: 1000,
  maxDelay: 30000,
  jitter: true,
} as const;

/** The statuses worth another attempt: timeouts, throttling and server or gateway failures. */
export const retryableStatuses: ReadonlySet<number> = new Set([408, 425, 429, 500, 502, 503, 504]);

/** Thrown when every attempt failed with a retryable error. */
export class RetryExhaustedError extends Error {
  override readonly name = "RetryExhaustedError";
  /** The attempts made. */
  readonly attempts: number;
  /** The error of the last one. */
  readonly lastError: unknown;

  constructor(attempts: number, lastError: unknown) {
    super(`gave up after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${messageOf(lastError)}`, { cause: lastError });
    this.attempts = attempts;
    this.lastError = lastError;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Whether err is worth another attempt: an error with a `status` of 408,
 * 425, 429, 500, 502, 503 or 504 (HttpError and ApiError have one), a
 * network failure of fetch (a TypeError such as "fetch failed" or "Failed to
 * fetch"), or a timeout (an error named TimeoutError). Never a cancellation
 * (AbortError), another 4xx such as a validation error, or a
 * RetryExhaustedError.
 */
export function isRetryableError(err: unknown): boolean {
  if (typeof err !== "object" || err === null) {
    return false;
  }
  const e = err as { name?: unknown; status?: unknown; message?: unknown };
  if (typeof e.status === "number") {
    return retryableStatuses.has(e.status);
  }
  if (e.name === "TimeoutError" || e.name === "NetworkError") {
    return true;
  }
  if (err instanceof TypeError) {
    return /fetch|network|load failed|connection|socket/i.test(err.message);
  }
  return false;
}

/**
 * The wait in milliseconds after failed attempt n (from 1): the server's
 * Retry-After when it sent one, else baseDelay * 2^(n-1), capped at
 * maxDelay, then drawn between 0 and that with full jitter; either way at
 * most maxDelay.
 */
export function backoffDelay(n: number, config: RetryConfig = {}, retryAfterMs?: number): number {
  const c = withDefaults(config);
  if (retryAfterMs !== undefined) {
    return Math.min(c.maxDelay, Math.max(0, retryAfterMs));
  }
  const ceiling = Math.min(c.maxDelay, c.baseDelay * 2 ** (n - 1));
  const d = c.jitter ? c.random() * ceiling : ceiling;
  return Math.min(c.maxDelay, d);
}

/**
 * Parses a Retry-After header: whole seconds ("120") or an HTTP date, as a
 * wait in milliseconds from now (0 for a date past). undefined when absent or
 * not understood.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value === null || value === undefined || value.trim() === "") {
    return undefined;
  }
  const v = value.trim();
  if (/^\d+$/.test(v)) {
    return Number(v) * 1000;
  }
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The Retry-After an error carries: its `retryAfterMs`, as HttpError has. */
function retryAfterOf(err: unknown): number | undefined {
  if (typeof err === "object" && err !== null) {
    const ms = (err as { retryAfterMs?: unknown }).retryAfterMs;
    if (typeof ms === "number" && Number.isFinite(ms)) {
      return ms;
    }
  }
  return undefined;
}

function withDefaults(config: RetryConfig): Required<Omit<RetryConfig, "signal" | "onRetry">> {
  const c = {
    maxAttempts: config.maxAttempts ?? retryDefaults.maxAttempts,
    baseDelay: config.baseDelay ?? retryDefaults.baseDelay,
    maxDelay: config.maxDelay ?? retryDefaults.maxDelay,
    jitter: config.jitter ?? retryDefaults.jitter,
    random: config.random ?? Math.random,
  };
  if (!Number.isInteger(c.maxAttempts) || c.maxAttempts < 1) {
    throw new RangeError(`RetryConfig.maxAttempts must be a whole number >= 1, got ${c.maxAttempts}`);
  }
  if (!(c.baseDelay >= 0) || !(c.maxDelay >= 0)) {
    throw new RangeError(`RetryConfig.baseDelay and maxDelay must be >= 0, got ${c.baseDelay} and ${c.maxDelay}`);
  }
  return c;
}

/**
 * Calls fn until it succeeds, retrying the errors shouldRetry accepts
 * (isRetryableError by default) with exponential backoff and full jitter, at
 * most maxAttempts times in all. An error shouldRetry refuses is thrown as
 * is, at once; when the attempts run out, a RetryExhaustedError carrying
 * them and the last error. Aborting config.signal ends a wait at once and
 * rejects with the signal's reason.
 *
 * fn must be safe to call again: for a request that changes something, send
 * the same idempotency key with every attempt (the Client does).
 */
export async function retryWithBackoff<T>(
  fn: (ctx: AttemptContext) => Promise<T>,
  config: RetryConfig = {},
  shouldRetry: (err: unknown, attempt: number) => boolean = isRetryableError,
): Promise<T> {
  const c = withDefaults(config);
  const signal = config.signal;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn({ attempt, signal });
    } catch (err) {
      if (signal?.aborted) {
        throw signal.reason;
      }
      if (!shouldRetry(err, attempt)) {
        throw err;
      }
      if (attempt >= c.maxAttempts) {
        throw new RetryExhaustedError(attempt, err);
      }
      const delayMs = backoffDelay(attempt, c, retryAfterOf(err));
      config.onRetry?.({ attempt, error: err, delayMs });
      await sleep(delayMs, signal);
    }
  }
}

/** Resolves after ms, or rejects with signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
