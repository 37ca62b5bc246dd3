/**
 * A load worker: runs the tasks the bench sends it over IPC (bench/tasks/index.ts) and answers with
 * their results. It exits when the bench disconnects, and never outlives it (bench/preload.ts).
 */
import type { FromWorker, ToWorker } from './lib/ipc.js';
import { TASKS } from './tasks/index.js';

const running = new Map<number, AbortController>();

function send(m: FromWorker): void {
  if (process.connected) process.send?.(m);
}

process.on('message', (m: ToWorker) => {
  if (m.kind === 'stop') {
    running.get(m.id)?.abort();
    return;
  }
  const task = (TASKS as Record<string, ((args: unknown, ctx: unknown) => Promise<unknown>) | undefined>)[m.task];
  if (!task) {
    send({ kind: 'error', id: m.id, message: `no task ${m.task}` });
    return;
  }
  const ac = new AbortController();
  running.set(m.id, ac);
  task(m.args, { signal: ac.signal, emit: (name: string, data?: unknown) => send({ kind: 'event', id: m.id, name, data: data ?? null }) }).then(
    (value) => send({ kind: 'done', id: m.id, value }),
    (err: unknown) => send({ kind: 'error', id: m.id, message: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  ).finally(() => running.delete(m.id));
});

process.on('disconnect', () => {
  for (const ac of running.values()) ac.abort();
  setTimeout(() => process.exit(0), 200).unref();
});

// Simulated users must never take the worker down; a task reports its own failures.
process.on('unhandledRejection', (err) => process.stderr.write(`worker: unhandled rejection: ${String(err)}\n`));
