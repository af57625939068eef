// The few Node.js APIs the tests use, declared by hand: the package's only
// dependency is TypeScript (no @types/node), and the client itself uses
// nothing beyond fetch, AbortSignal and timers.

declare const process: {
  env: Record<string, string | undefined>;
  kill(pid: number, signal?: string): boolean;
};

declare module "node:test" {
  type Fn = () => void | Promise<void>;
  interface Options {
    timeout?: number;
  }
  export function test(name: string, fn: Fn): Promise<void>;
  export function test(name: string, options: Options, fn: Fn): Promise<void>;
  export function describe(name: string, fn: () => void): void;
  export function before(fn: Fn, options?: Options): void;
  export function after(fn: Fn, options?: Options): void;
}

declare module "node:assert/strict" {
  interface Assert {
    (value: unknown, message?: string): asserts value;
    ok(value: unknown, message?: string): asserts value;
    equal<T>(actual: unknown, expected: T, message?: string): asserts actual is T;
    notEqual(actual: unknown, expected: unknown, message?: string): void;
    deepEqual<T>(actual: unknown, expected: T, message?: string): asserts actual is T;
    match(value: string, re: RegExp, message?: string): void;
    rejects(p: Promise<unknown> | (() => Promise<unknown>), expected?: unknown, message?: string): Promise<void>;
    throws(fn: () => unknown, expected?: unknown, message?: string): void;
  }
  const assert: Assert;
  export default assert;
}

declare module "node:child_process" {
  interface Readable {
    on(event: "data", cb: (chunk: { toString(): string }) => void): this;
  }
  export interface ChildProcess {
    pid?: number;
    exitCode: number | null;
    stderr: Readable | null;
    stdout: Readable | null;
    kill(signal?: string): boolean;
    once(event: "exit", cb: (code: number | null, signal: string | null) => void): this;
  }
  export function spawn(cmd: string, args: readonly string[], options?: { env?: Record<string, string | undefined>; cwd?: string; stdio?: unknown }): ChildProcess;
  export function execFileSync(cmd: string, args: readonly string[], options?: { cwd?: string; encoding?: "utf8"; env?: Record<string, string | undefined>; stdio?: unknown }): string;
}

declare module "node:http" {
  export interface IncomingMessage {
    method?: string;
    url?: string;
    headers: Record<string, string | string[] | undefined>;
    statusCode?: number;
    socket: { destroy(): void };
    on(event: "data", cb: (chunk: Uint8Array) => void): this;
    on(event: "end", cb: () => void): this;
    on(event: "error", cb: (err: Error) => void): this;
  }
  export interface ServerResponse {
    writeHead(status: number, headers?: Record<string, string | string[] | number | undefined>): this;
    end(body?: Uint8Array | string): void;
  }
  export interface ClientRequest {
    on(event: "error", cb: (err: Error) => void): this;
    end(body?: Uint8Array): void;
  }
  export interface Server {
    listen(port: number, host: string, cb: () => void): this;
    address(): { port: number } | string | null;
    close(cb?: () => void): void;
    closeAllConnections(): void;
  }
  export function createServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Server;
  export function request(
    url: string,
    options: { method?: string; headers?: Record<string, string | string[] | undefined> },
    cb: (res: IncomingMessage) => void,
  ): ClientRequest;
}

declare module "node:net" {
  interface NetServer {
    listen(port: number, host: string, cb: () => void): this;
    address(): { port: number } | string | null;
    close(cb?: () => void): void;
  }
  export function createServer(): NetServer;
}

declare module "node:fs" {
  export function mkdtempSync(prefix: string): string;
  export function rmSync(path: string, options?: { recursive?: boolean; force?: boolean }): void;
}

declare module "node:os" {
  export function tmpdir(): string;
}

declare module "node:path" {
  export function join(...parts: string[]): string;
}

declare module "node:url" {
  export function fileURLToPath(url: string | URL): string;
}

interface ImportMeta {
  url: string;
}
