/** A private redis-server on a free port with its AOF in a temp dir, for tests that stop and restart Redis. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { freePort, tempDir } from './env.js';
import { until } from './wait.js';

export class PrivateRedis {
  private child: ChildProcess | undefined;
  readonly dir = tempDir();
  private constructor(readonly port: number) {}

  static async start(): Promise<PrivateRedis> {
    const r = new PrivateRedis(await freePort());
    await r.up();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Start (again) on the same port and data dir; resolves when it answers PING. */
  async up(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) return; // already up
    this.child = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '',
      '--appendonly', 'yes', '--appendfsync', 'always', '--maxmemory-policy', 'noeviction',
    ], { stdio: 'ignore' });
    await until(async () => {
      const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => undefined);
      try {
        await c.connect();
        return (await c.ping()) === 'PONG';
      } finally {
        c.disconnect();
      }
    }, `redis-server on ${this.port}`, 10000, 50);
  }

  /** Stop it hard (as a crash would); the AOF (fsync always) keeps every acknowledged write. */
  async down(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }
}
