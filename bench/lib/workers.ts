/**
 * Load worker processes seen from the bench: each is `node --import tsx bench/worker.ts` with an
 * IPC channel, so the load's CPU is never in the bench's own process. Tasks are named in
 * bench/tasks/index.ts; a task can report events mid-way and be asked to stop.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { FromWorker, ToWorker } from './ipc.js';
import { BENCH_DIR, NODE_IMPORTS, ROOT, track } from './procs.js';
import type { TaskArgs, TaskName, TaskResult } from '../tasks/index.js';

export interface TaskHandle<T> {
  result: Promise<T>;
  /** Resolves with the data of the first event of that name (rejects if the task ends first). */
  event(name: string): Promise<unknown>;
  stop(): void;
}

export class LoadWorker {
  private nextId = 1;
  private readonly pending = new Map<number, {
    resolve: (v: unknown) => void;
    reject: (e: Error) => void;
    events: Map<string, unknown[]>;
    waiters: Map<string, ((v: unknown) => void)[]>;
  }>();
  private exitError: Error | undefined;
  private stderr = '';

  private constructor(readonly name: string, readonly child: ChildProcess) {
    child.stderr?.on('data', (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-8000);
    });
    child.on('message', (m: FromWorker) => this.onMessage(m));
    child.on('exit', (code, signal) => {
      this.exitError = new Error(`${name} exited (${code ?? signal}): ${this.stderr.slice(-2000)}`);
      for (const p of this.pending.values()) p.reject(this.exitError);
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  static start(name: string): LoadWorker {
    const child = fork(join(BENCH_DIR, 'worker.ts'), [], {
      cwd: ROOT,
      execArgv: ['--max-old-space-size=6144', '--expose-gc', ...NODE_IMPORTS],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    track(child);
    return new LoadWorker(name, child);
  }

  run<N extends TaskName>(task: N, args: TaskArgs<N>, timeoutMs = 600_000): TaskHandle<TaskResult<N>> {
    if (this.exitError) throw this.exitError;
    const id = this.nextId++;
    const events = new Map<string, unknown[]>();
    const waiters = new Map<string, ((v: unknown) => void)[]>();
    let timer: NodeJS.Timeout | undefined;
    let rejectEvents: (e: Error) => void = () => undefined;
    const ended = new Promise<never>((_, reject) => {
      rejectEvents = reject;
    });
    ended.catch(() => undefined);
    const result = new Promise<TaskResult<N>>((resolve, reject) => {
      timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: task ${task} took over ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => resolve(v as TaskResult<N>),
        reject,
        events,
        waiters,
      });
      this.send({ kind: 'run', id, task, args });
    }).finally(() => {
      clearTimeout(timer);
      rejectEvents(new Error(`${this.name}: task ${task} ended`));
    });
    return {
      result,
      event: (name) => {
        const seen = events.get(name);
        if (seen?.length) return Promise.resolve(seen[0]);
        return Promise.race([
          new Promise((resolve) => waiters.set(name, [...(waiters.get(name) ?? []), resolve])),
          ended,
          result.then(() => {
            throw new Error(`${this.name}: task ${task} ended before '${name}'`);
          }),
        ]);
      },
      stop: () => this.send({ kind: 'stop', id }),
    };
  }

  private send(m: ToWorker): void {
    if (this.child.connected) this.child.send(m);
  }

  private onMessage(m: FromWorker): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.kind === 'event') {
      p.events.set(m.name, [...(p.events.get(m.name) ?? []), m.data]);
      for (const w of p.waiters.get(m.name) ?? []) w(m.data);
      p.waiters.delete(m.name);
      return;
    }
    this.pending.delete(m.id);
    if (m.kind === 'done') p.resolve(m.value);
    else p.reject(new Error(`${this.name}: ${m.message}`));
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.disconnect();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
}
