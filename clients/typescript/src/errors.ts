import { parseRetryAfter } from "./retry.js";
import type { Problem } from "./schema.js";

/**
 * An HTTP answer that is not a success. Its `status` and `retryAfterMs`
 * (from Retry-After) are what isRetryableError and retryWithBackoff read, so
 * throwing one from a plain fetch makes that fetch retryable:
 *
 *     await retryWithBackoff(async ({ signal }) => {
 *       const res = await fetch(url, { signal });
 *       if (!res.ok) throw await HttpError.fromResponse(res);
 *       return res.json();
 *     });
 */
export class HttpError extends Error {
  override name = "HttpError";
  /** The HTTP status. */
  readonly status: number;
  /** The answer's headers. */
  readonly headers: Headers;
  /** The answer's body, as text. */
  readonly body: string;
  /** The server's Retry-After, in milliseconds, when it sent one. */
  readonly retryAfterMs: number | undefined;

  constructor(status: number, headers: Headers, body: string, message?: string) {
    super(message ?? `HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ""}`);
    this.status = status;
    this.headers = headers;
    this.body = body;
    this.retryAfterMs = parseRetryAfter(headers.get("retry-after"));
  }

  /** Reads res's body into an HttpError. */
  static async fromResponse(res: Response): Promise<HttpError> {
    return new HttpError(res.status, res.headers, await res.text());
  }
}

/**
 * An error answer of the jobrunner API: an RFC 9457 problem. `problem.type`
 * ends with the slug of the error (see docs/api.md), `problem.detail` is the
 * server's explanation (for an invalid payload, the CLI's text) and
 * `problem.field` names the field at fault.
 */
export class ApiError extends HttpError {
  override name = "ApiError";
  /** The problem the server answered (synthesized when the body was not one). */
  readonly problem: Problem;

  constructor(status: number, headers: Headers, body: string) {
    const problem = parseProblem(status, body);
    super(status, headers, body, `${status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ""}`);
    this.problem = problem;
  }

  /** The slug of the problem type: "invalid-payload", "redis-unavailable", ... */
  get slug(): string {
    const i = this.problem.type.lastIndexOf("#");
    return i >= 0 ? this.problem.type.slice(i + 1) : this.problem.type;
  }

  static override async fromResponse(res: Response): Promise<ApiError> {
    return new ApiError(res.status, res.headers, await res.text());
  }
}

function parseProblem(status: number, body: string): Problem {
  try {
    const p: unknown = JSON.parse(body);
    if (typeof p === "object" && p !== null && typeof (p as Problem).type === "string" && typeof (p as Problem).title === "string") {
      return p as Problem;
    }
  } catch {
    // not JSON: a proxy's answer, say
  }
  return { type: "about:blank", title: `HTTP ${status}`, status, ...(body ? { detail: body.slice(0, 200) } : {}) };
}

/** A fetch that failed without an answer: refused, reset, or lost on the way. Retryable. */
export class NetworkError extends Error {
  override name = "NetworkError";
  constructor(message: string, cause: unknown) {
    super(message, { cause });
  }
}

/** An attempt that got no answer within its time. Retryable. */
export class TimeoutError extends Error {
  override name = "TimeoutError";
}

/** waitFor's time ran out before the task completed or was archived. */
export class WaitTimeoutError extends Error {
  override name = "WaitTimeoutError";
  /** The task as last seen. */
  readonly task: unknown;
  constructor(message: string, task: unknown) {
    super(message);
    this.task = task;
  }
}
