// @jobrunner/client: enqueue jobrunner jobs over HTTP, with safe retries.
export { Client, isRetryableApiError, newIdempotencyKey } from "./client.js";
export type {
  CallOptions,
  ClientOptions,
  EnqueueManyOptions,
  EnqueueManyResult,
  EnqueueOptions,
  EnqueueResult,
  WaitOptions,
} from "./client.js";
export { ApiError, HttpError, NetworkError, TimeoutError, WaitTimeoutError } from "./errors.js";
export {
  backoffDelay,
  isRetryableError,
  parseRetryAfter,
  retryDefaults,
  retryableStatuses,
  retryWithBackoff,
  RetryExhaustedError,
} from "./retry.js";
export type { AttemptContext, RetryConfig, RetryInfo } from "./retry.js";
export type * from "./schema.js";
