/**
 * Keeps the dispatch worker alive across Redis outages: BullMQ workers have had bugs where they
 * silently stopped consuming after a reconnect. When the worker's Redis has been unready longer
 * than WORKER_WATCHDOG_MS, or the worker is no longer running, it is closed and made anew.
 */
import type { Worker } from 'bullmq';
import type { Logger } from 'pino';

export interface Watched {
  worker: Worker;
}

export function watchWorker(holder: Watched, make: () => Worker, boundMs: number, log: Logger, onRestart?: () => void): () => void {
  let unreadySince: number | null = null;
  let restarting = false;
  const tick = async () => {
    if (restarting) return;
    const worker = holder.worker;
    const client = await worker.client.catch(() => null);
    const ready = client?.status === 'ready';
    unreadySince = ready ? null : (unreadySince ?? Date.now());
    const stuck = unreadySince !== null && Date.now() - unreadySince > boundMs;
    if (!stuck && (worker.isRunning() || !ready)) return;
    restarting = true;
    log.warn({ stuck, running: worker.isRunning() }, 'dispatch worker watchdog: restarting the worker');
    try {
      await worker.close(true).catch(() => undefined);
      holder.worker = make();
      unreadySince = null;
      onRestart?.();
    } finally {
      restarting = false;
    }
  };
  const timer = setInterval(() => void tick(), Math.min(5000, Math.max(250, boundMs / 4)));
  timer.unref();
  return () => clearInterval(timer);
}
