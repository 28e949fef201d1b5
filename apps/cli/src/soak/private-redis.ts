import { ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { sleep } from '../fleet/fleet-process';

const execFileAsync = promisify(execFile);

/**
 * A redis-server of our own on a loopback port (the flags of infra/redis.sh: no save points, no AOF,
 * no eviction), so that restarting it touches no one else's queues. Its data lives in `dir`.
 */
export class PrivateRedis {
  private child: ChildProcess | undefined;

  constructor(
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(this.port),
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxmemory-policy',
        'noeviction',
        '--dir',
        this.dir,
        '--dbfilename',
        'soak.rdb',
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    const deadline = Date.now() + 20_000;
    while (!(await this.answers())) {
      if (child.exitCode !== null) throw new Error(`redis-server on port ${this.port} exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} does not answer PING`);
      await sleep(100);
    }
  }

  /**
   * Stops the server and starts it again on the same port. SHUTDOWN SAVE writes the data first, so the
   * queues come back as they were: the fleet must ride out the outage, not lose its work to it.
   */
  async restart(): Promise<void> {
    await this.stop('save');
    await this.start();
  }

  async stop(mode: 'save' | 'nosave' = 'nosave'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await execFileAsync('redis-cli', ['-p', String(this.port), 'shutdown', mode]).catch(() => child.kill('SIGKILL'));
    await exited;
  }

  private async answers(): Promise<boolean> {
    try {
      const { stdout } = await execFileAsync('redis-cli', ['-p', String(this.port), 'ping']);
      return stdout.trim() === 'PONG';
    } catch {
      return false;
    }
  }
}
