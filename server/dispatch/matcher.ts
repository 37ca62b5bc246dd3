/**
 * One matching step for one call (the `offer` command), and what follows it: offers, revocations
 * and status changes are pushed. The step keeps the call's timer in Redis (see timers.ts); when the
 * timer is due it runs this step again, fenced by its wave, which moves to the next wave or, past
 * the call's deadline, ends the call `unfulfilled`.
 */
import type { Call } from '../../protocol/index.js';
import { clock, follow, type Context } from '../context.js';

export type MatchOutcome = 'offered' | 'waiting' | 'wave-live' | 'unfulfilled' | 'closed';

/**
 * @param fence the wave a timer was set for, or undefined for a first match or a re-match.
 * @param rerun true when this job ran before (its worker died or it failed): pushes of a live
 *   wave may never have left, so they are sent again (clients drop repeats by callId and seq).
 */
export async function runMatch(ctx: Context, callId: string, fence?: number, rerun = false): Promise<MatchOutcome> {
  const { metrics, log } = ctx;
  const r = await ctx.commands.offer({ callId, now: clock(), fence });
  await follow(ctx, r.effects);
  switch (r.outcome) {
    case 'offered': {
      metrics.offers.inc(r.offers.length);
      if (r.changed) metrics.requestToOffer.observe((Date.now() - Date.parse(r.call.createdAt)) / 1000);
      log.info({ callId, wave: r.wave, drivers: r.offers.map((o) => o.driverId), status: r.call.status }, 'offer wave sent');
      return 'offered';
    }
    case 'waiting':
      return 'waiting';
    case 'live':
      // A wave is live (its timer was set with it). After a crash between sending it and pushing
      // its offers, this re-run pushes them again.
      if (rerun) await resendLiveWave(ctx, callId);
      return 'wave-live';
    case 'unfulfilled':
      log.info({ callId, status: r.call.status }, 'call unfulfilled');
      return 'unfulfilled';
    default:
      return 'closed';
  }
}

/**
 * Push a call's status and its live offers again (recovery after a crash between the step and its
 * pushes): each live offer goes through its index step again (index-offers.lua), which also writes
 * an index entry the dead run never wrote.
 */
async function resendLiveWave(ctx: Context, callId: string): Promise<void> {
  const { redis, keys, notify } = ctx;
  const [json, offers] = await Promise.all([redis.hget(keys.call(callId), 'json'), redis.hgetall(keys.callOffers(callId))]);
  if (json) notify.callChanged(JSON.parse(json) as Call);
  const now = Date.now();
  const live = Object.entries(offers).filter(([, state]) => Number(state) > now).map(([driverId]) => driverId);
  await follow(ctx, { index: [{ callId, drivers: live }] });
}
