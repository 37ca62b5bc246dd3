/** The messages between the bench and its load worker processes (bench/worker.ts). */

export type ToWorker =
  | { kind: 'run'; id: number; task: string; args: unknown }
  | { kind: 'stop'; id: number };

export type FromWorker =
  | { kind: 'event'; id: number; name: string; data: unknown }
  | { kind: 'done'; id: number; value: unknown }
  | { kind: 'error'; id: number; message: string };

/** What a task gets besides its arguments. */
export interface TaskContext {
  /** Aborted when the bench asks the task to stop (long-running tasks end on it). */
  signal: AbortSignal;
  /** Tell the bench something mid-task (e.g. 'ready' once every socket is connected). */
  emit(name: string, data?: unknown): void;
}

export type Task = (args: never, ctx: TaskContext) => Promise<unknown>;
