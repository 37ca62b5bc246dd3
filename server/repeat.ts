/**
 * A look repeated until stopped, one at a time: again at once after a full look (more is waiting),
 * else after `everyMs`. A look that fails is retried on the same beat; the failure is logged once,
 * and its end once, not at every look. The sweeps of dispatchers (call timers, retention) run on it.
 */
import type { Logger } from 'pino';

export interface Repeated {
  stop(): Promise<void>;
}

export function repeat(o: {
  /** One look; resolves true when it was full (look again at once). */
  look: () => Promise<boolean>;
  everyMs: number;
  /** Before the first look (default everyMs). */
  firstInMs?: number;
  log: Logger;
  /** What is looked at, for the log: "sweeping call timers". */
  what: string;
}): Repeated {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  let failing = false;

  const loop = () => {
    if (stopped) return;
    running = o.look().then(
      (full) => {
        if (failing) o.log.info(`${o.what}: working again`);
        failing = false;
        return full;
      },
      (err: unknown) => {
        if (!failing) o.log.warn({ err }, `${o.what} failed; retrying`);
        failing = true;
        return false;
      },
    ).then((full) => {
      if (!stopped) timer = setTimeout(loop, full ? 0 : o.everyMs);
    });
  };
  timer = setTimeout(loop, o.firstInMs ?? o.everyMs);

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
