/**
 * Retention (CALL_RETENTION_MS): every dispatcher looks a few times a second at the ended calls
 * whose end is older than the retention and removes their live Redis keys (retire.lua). A call is
 * in that set only once the ledger has committed its final change (consumer.ts adds it after the
 * commit), so what leaves Redis is always in the ledger; its reads fall back there. Dispatchers
 * looking at once are safe: removing a call twice finds it gone.
 */
import type { Logger } from 'pino';
import type { Commands } from '../redis/commands.js';
import { repeat } from '../repeat.js';

/** Calls removed per look at most. */
const BATCH = 200;

export interface Retention {
  /** One look: the calls removed. */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

export function startRetention(
  d: { commands: Pick<Commands, 'endedBefore' | 'retire'>; log: Logger; onRemoved?: (n: number) => void },
  retentionMs: number,
  everyMs = Math.min(5000, Math.max(100, Math.floor(retentionMs / 10))),
): Retention {
  async function sweep(): Promise<number> {
    const now = Date.now();
    const due = await d.commands.endedBefore({ before: now - retentionMs, max: BATCH });
    let removed = 0;
    for (const callId of due) {
      try {
        if ((await d.commands.retire({ callId, now, retentionMs })) === 'removed') removed++;
      } catch (err) {
        // One call that kept changing under it waits for the next look; the others go on.
        d.log.warn({ err, callId }, 'retention: a call could not be removed, trying again later');
      }
    }
    if (removed > 0) d.onRemoved?.(removed);
    return due.length;
  }

  const looking = repeat({ look: async () => (await sweep()) >= BATCH, everyMs, log: d.log, what: 'retention' });
  return { sweep, stop: () => looking.stop() };
}
