import { ChildProcess, spawn } from 'node:child_process';
import IORedis from 'ioredis';
import { freePort, sleep } from './fleet-processes';

/**
 * A redis-server of the test's own on a free port (no persistence), started with `args` (e.g.
 * `--maxmemory-policy allkeys-lru`), so that a test can kill, restart or reconfigure it without
 * touching the shared Redis.
 */
export class PrivateRedis {
  private child: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    private readonly args: string[],
  ) {}

  static async start(args: string[] = []): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), args);
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts the server (again, empty) on the same port and waits until it answers. */
  async restart(): Promise<void> {
    if (this.child) throw new Error(`redis on port ${this.port} is already running`);
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...this.args], {
      stdio: 'ignore',
    });
    this.child = child;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server ${this.args.join(' ')} exited with ${child.exitCode}`);
      if (await this.answers()) return;
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer within 10 s`);
      await sleep(50);
    }
  }

  /** Kills the server (SIGKILL: no clean shutdown, as when a host is lost). */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }

  /** Runs one command on the server, e.g. `['CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru']`. */
  async command(...args: string[]): Promise<unknown> {
    const client = new IORedis(this.url, { maxRetriesPerRequest: 0, lazyConnect: true });
    try {
      await client.connect();
      return await client.call(args[0], ...args.slice(1));
    } finally {
      client.disconnect();
    }
  }

  private async answers(): Promise<boolean> {
    try {
      return (await this.command('PING')) === 'PONG';
    } catch {
      return false;
    }
  }
}
