// Code generated from enqueue/openapi.yaml by the enqueue package's TestTypeScriptSchema
// (go test ./enqueue -run TestTypeScriptSchema -update). DO NOT EDIT.

export interface BulkReport {
  duplicate_lines?: number[];
  /** Jobs refused as unique duplicates or for a task ID that exists. */
  duplicates: number;
  /** Tasks written by this request (or by an earlier attempt under its Idempotency-Key). */
  enqueued: number;
  invalid: number;
  invalid_lines?: LineError[];
  /** Valid jobs not written because Redis failed first. */
  not_written?: number;
  /** The tasks written, by line. */
  tasks?: BulkTask[];
  /** Jobs that passed validation. */
  valid: number;
}

export interface BulkTask {
  line: number;
  queue: string;
  task_id: string;
}

export interface Enqueued {
  queue: string;
  state: TaskState;
  task_id: string;
}

export interface Health {
  status: string;
}

/** Task options; the job type's definition sets the defaults of queue, max_retry and timeout. */
export interface JobOptions {
  deadline?: string;
  max_retry?: number;
  /** Run at this time (scheduled). */
  process_at?: string;
  /** Run after this duration (scheduled). */
  process_in?: string;
  queue?: string;
  /** Keep the completed task and its result this long, whole seconds. */
  retention?: string;
  /** The task ID; an existing one is 409. Defaults to a random UUID (derived from the Idempotency-Key when one is sent). */
  task_id?: string;
  /** Per-attempt timeout, a Go duration ("90s") or whole seconds ("90"); whole seconds only. */
  timeout?: string;
  /** Refuse a duplicate (same queue, type and payload) for this TTL, whole seconds. */
  unique?: string;
}

/** One job, as one line of the CLI's bulk input. */
export interface JobRequest {
  options?: JobOptions;
  /** Any JSON value but null; decoded strictly by the job type's decoder. Defaults to {}. */
  payload?: unknown;
  /** The job type, one the server's registry knows. */
  type: string;
}

export interface LineError {
  /** The CLI's text for the line. */
  error: string;
  /** The line number (JSON Lines) or element number (array), from 1. */
  line: number;
}

/** RFC 9457 problem details; `type` links to the section of docs/api.md that explains it. */
export interface Problem {
  detail?: string;
  /** The field at fault, e.g. payload.msg or options.timeout. */
  field?: string;
  invalid_lines?: LineError[];
  queue?: string;
  report?: BulkReport;
  status: number;
  task_id?: string;
  title: string;
  type: string;
  /** Members this version does not know. */
  [member: string]: unknown;
}

/** A task as `enqueue --wait --output json` prints it, with its attempts. */
export interface Task {
  /** Attempts so far, the running one included. */
  attempts: number;
  completed_at?: string;
  deadline?: string;
  id: string;
  /** The last attempt's error, sanitized and cut to 2 KB. */
  last_error?: string;
  last_failed_at?: string;
  max_retry: number;
  next_process_at?: string;
  /** The payload as enqueued (a JSON value; a string when the stored bytes are not JSON). */
  payload: unknown;
  queue: string;
  /** What the handler wrote with its ResultWriter; set once completed. */
  result?: string;
  retention?: string;
  /** Failed attempts that were retried. */
  retried: number;
  /** Why a completed task did not run (duplicate_done), when it did not. */
  skipped?: string;
  state: TaskState;
  timeout?: string;
  type: string;
  unique?: string;
}

export type TaskState = "pending" | "active" | "scheduled" | "retry" | "archived" | "completed" | "aggregating";
