import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

/** The repository root, from apps/cli/src/fleet or apps/cli/dist/fleet alike. */
export const REPO_ROOT = path.resolve(__dirname, '../../../..');
export const API_MAIN = path.join(REPO_ROOT, 'apps/api/dist/main.js');
export const WORKER_MAIN = path.join(REPO_ROOT, 'apps/worker/dist/main.js');

/** A fleet process (API or worker) started from the built apps, with its output kept for failure messages. */
export class FleetProcess {
  readonly output: string[] = [];
  /** Resolves with the exit code (null when killed by a signal) once the process has exited. */
  readonly exited: Promise<number | null>;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') this.output.push(line);
      if (this.output.length > 2000) this.output.splice(0, this.output.length - 2000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  }

  static start(name: string, main: string, env: Record<string, string>): FleetProcess {
    if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first`);
    const child = spawn(process.execPath, [main], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    return new FleetProcess(name, child);
  }

  /** A worker process (apps/worker), once it reports its roles. */
  static async startWorker(name: string, env: Record<string, string>): Promise<FleetProcess> {
    const worker = FleetProcess.start(name, WORKER_MAIN, env);
    await worker.waitForOutput(/worker: roles/);
    return worker;
  }

  /** The API process (apps/api), once it listens. */
  static async startApi(env: Record<string, string>): Promise<FleetProcess> {
    const api = FleetProcess.start('api', API_MAIN, env);
    await api.waitForOutput(/api: listening/);
    return api;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves when a line matching `pattern` has been printed. */
  async waitForOutput(pattern: RegExp, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.output.some((l) => pattern.test(l))) return;
      if (!this.alive) throw new Error(`${this.name} exited before printing ${pattern}:\n${this.tail()}`);
      await sleep(100);
    }
    throw new Error(`${this.name} did not print ${pattern} within ${timeoutMs} ms:\n${this.tail()}`);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (this.alive) this.child.kill(signal);
    return this.exited;
  }

  tail(lines = 40): string {
    return this.output.slice(-lines).join('\n');
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `fn` until it returns a value that `done` accepts. */
export async function pollUntil<T>(fn: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await fn();
    if (done(last)) return last;
    await sleep(250);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last value: ${JSON.stringify(last)?.slice(0, 2000)}`);
}

/** A TCP port nothing listens on right now, for an API process. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}
