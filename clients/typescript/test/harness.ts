// The real things the client's tests run against: redis-server, the
// enqueue and worker binaries built from this repository, and a proxy
// between the client and the server that loses or delays answers.

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root, from build/test/harness.js. */
export const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));

/**
 * Builds cmd/enqueue and cmd/worker into a temporary directory, with the
 * race detector: a data race makes them exit 66, which the tests catch, and
 * after `go test -race ./...` (as in .ci/run) the build cache has every
 * package, so the build is a link.
 */
export function buildBinaries(): { dir: string; enqueue: string; worker: string } {
  const dir = mkdtempSync(join(tmpdir(), "jobrunner-ts-"));
  execFileSync("go", ["build", "-race", "-o", dir, "./cmd/enqueue", "./cmd/worker"], { cwd: repoRoot, stdio: "inherit" });
  return { dir, enqueue: join(dir, "enqueue"), worker: join(dir, "worker") };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** A free TCP port of 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a !== null ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

async function until(what: string, ms: number, ready: () => boolean | Promise<boolean>): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (await ready()) {
        return;
      }
    } catch {
      // not yet
    }
    if (Date.now() > end) {
      throw new Error(`${what}: not ready within ${ms}ms`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A redis-server of the test's own, without persistence. */
export class Redis {
  readonly proc: ChildProcess;
  constructor(readonly port: number) {
    this.proc = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  }
  static async start(): Promise<Redis> {
    const r = new Redis(await freePort());
    await until("redis-server", 10000, () => r.cli("PING") === "PONG");
    return r;
  }
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  /** Runs a redis-cli command and returns its output, trimmed. */
  cli(...args: string[]): string {
    return execFileSync("redis-cli", ["-p", String(this.port), ...args], { encoding: "utf8" }).trim();
  }
  /** The number of tasks asynq holds in queue, in any state. */
  tasks(queue: string): number {
    const out = this.cli("--scan", "--pattern", `asynq:{${queue}}:t:*`);
    return out === "" ? 0 : out.split("\n").length;
  }
  pause(): void {
    this.proc.kill("SIGSTOP");
  }
  resume(): void {
    this.proc.kill("SIGCONT");
  }
  stop(): void {
    this.resume();
    this.proc.kill("SIGKILL");
  }
}

/** A process of ours whose JSON log lines (the worker's on stdout, enqueue's on stderr) are kept. */
export class Proc {
  readonly lines: string[] = [];
  readonly proc: ChildProcess;
  constructor(bin: string, args: string[], env: Record<string, string>) {
    this.proc = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      let partial = "";
      stream?.on("data", (chunk) => {
        const parts = (partial + chunk.toString()).split("\n");
        partial = parts.pop() ?? "";
        this.lines.push(...parts);
      });
    }
  }
  /** Waits for a log line with the event and returns it, parsed. */
  async event(name: string, ms = 10000): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | undefined;
    await until(`log event ${name}`, ms, () => {
      for (const l of this.lines) {
        if (l.includes(`"event":"${name}"`)) {
          found = JSON.parse(l) as Record<string, unknown>;
          return true;
        }
      }
      if (this.proc.exitCode !== null) {
        throw new Error(`exited ${this.proc.exitCode} before ${name}:\n${this.lines.join("\n")}`);
      }
      return false;
    });
    return found!;
  }
  /** Sends SIGTERM and waits for the exit status. */
  stop(): Promise<number | null> {
    return new Promise((resolve) => {
      if (this.proc.exitCode !== null) {
        resolve(this.proc.exitCode);
        return;
      }
      this.proc.once("exit", (code) => resolve(code));
      this.proc.kill("SIGTERM");
    });
  }
}

/** What the proxy does with the answer to a request. */
export type Action = { kind: "pass" } | { kind: "drop" } | { kind: "delay"; ms: number };

/** One request the proxy saw. */
export interface Seen {
  method: string;
  path: string;
  idempotencyKey: string | undefined;
  status: number;
  action: Action["kind"];
}

/**
 * A proxy in front of the API: each request goes to the server, and its
 * answer is passed on, lost (the connection is cut after the server
 * answered, as by a load balancer that dies or a network that drops it) or
 * delayed, as plan says for the nth request (from 0).
 */
export class Proxy {
  readonly seen: Seen[] = [];
  plan: (n: number, method: string, path: string) => Action = () => ({ kind: "pass" });
  readonly #server;
  #port = 0;

  constructor(readonly target: string) {
    this.#server = createHttpServer((req, res) => this.#handle(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    const a = this.#server.address();
    this.#port = typeof a === "object" && a !== null ? a.port : 0;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const n = this.seen.length;
    const method = req.method ?? "GET";
    const path = req.url ?? "/";
    const action = this.plan(n, method, path);
    const key = req.headers["idempotency-key"];
    const seen: Seen = { method, path, idempotencyKey: typeof key === "string" ? key : undefined, status: 0, action: action.kind };
    this.seen.push(seen);
    const chunks: Uint8Array[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const headers = { ...req.headers };
      delete headers["host"];
      const up = request(this.target + path, { method, headers }, (ures) => {
        const body: Uint8Array[] = [];
        ures.on("data", (c) => body.push(c));
        ures.on("end", () => {
          seen.status = ures.statusCode ?? 0;
          const send = (): void => {
            res.writeHead(ures.statusCode ?? 502, ures.headers);
            res.end(concat(body));
          };
          switch (action.kind) {
            case "drop":
              req.socket.destroy();
              break;
            case "delay":
              setTimeout(send, action.ms);
              break;
            default:
              send();
          }
        });
      });
      up.on("error", () => req.socket.destroy());
      up.end(concat(chunks));
    });
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(n);
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}
