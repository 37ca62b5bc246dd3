/**
 * One matching step for one call (offer-6.lua), and what follows it: offers, revocations and status
 * changes are pushed. The step keeps the call's timer in Redis (see timers.ts); when the timer is
 * due it runs this step again, fenced by its wave, which moves to the next wave or, past the call's
 * deadline, ends the call `unfulfilled`.
 */
import type { Call, Offer } from '../../protocol/index.js';
import { clock, later, type Context } from '../context.js';
import { enqueueRematch } from './queue.js';

export type MatchOutcome = 'offered' | 'waiting' | 'wave-live' | 'unfulfilled' | 'closed';

/**
 * @param fence the wave a timer was set for, or undefined for a first match or a re-match.
 * @param rerun true when this job ran before (its worker died or it failed): pushes of a live
 *   wave may never have left, so they are sent again (clients drop repeats by callId and seq).
 */
export async function runMatch(ctx: Context, callId: string, fence?: number, rerun = false): Promise<MatchOutcome> {
  const { config, keys, scripts, notify, log } = ctx;
  const t = clock();
  const reply = await scripts.offer(
    keys.call(callId), keys.callOffers(callId), keys.freeDrivers, keys.waitingCalls, keys.ledger, keys.callTimers,
    keys.prefix, t.ms, t.iso, config.OFFER_TIMEOUT_MS, config.OFFER_WAVE_SIZE, config.MATCH_RADIUS_M, fence ?? '',
    config.CALL_TIMEOUT_MS, callId,
  );
  switch (reply[0]) {
    case 1: {
      const [, json, expiresAt, offered, changed, wave, expired] =
        reply as [number, string, number, (string | number)[], number, number, string[]];
      notify.revoked(expired, callId, 'expired');
      const call = JSON.parse(json) as Call;
      const drivers: string[] = [];
      for (let i = 0; i < offered.length; i += 2) {
        const driverId = String(offered[i]);
        const offer: Offer = { callId, pickup: call.pickup, dropoff: call.dropoff, distanceM: Number(offered[i + 1]), expiresAt };
        notify.offer(driverId, offer);
        drivers.push(driverId);
      }
      ctx.metrics.offers.inc(drivers.length);
      if (changed === 1) {
        notify.callChanged(call);
        ctx.metrics.requestToOffer.observe((Date.now() - Date.parse(call.createdAt)) / 1000);
      }
      later(ctx, rematchNear(ctx, expired), 'rematch near freed drivers');
      log.info({ callId, wave, drivers, status: call.status }, 'offer wave sent');
      return 'offered';
    }
    case 0: {
      const [, , expired] = reply as [number, number, string[]];
      notify.revoked(expired, callId, 'expired');
      // Drivers whose offers just expired are free: other waiting calls near them may use them.
      later(ctx, rematchNear(ctx, expired), 'rematch near freed drivers');
      return 'waiting';
    }
    case 2: {
      // A wave is live (its timer was set with it). After a crash between sending it and pushing
      // its offers, this re-run pushes them again.
      if (rerun) await resendLiveWave(ctx, callId);
      return 'wave-live';
    }
    case 3: {
      // Nobody accepted by the deadline: the call is unfulfilled, its offers ended.
      const [, json, expired] = reply as [number, string, string[]];
      const call = JSON.parse(json) as Call;
      notify.callChanged(call);
      notify.revoked(expired, callId, 'expired');
      later(ctx, rematchNear(ctx, expired), 'rematch near freed drivers');
      log.info({ callId, status: call.status }, 'call unfulfilled');
      return 'unfulfilled';
    }
    default:
      return 'closed';
  }
}

/** Push a call's live offers and its status again (recovery after a crash between script and push). */
async function resendLiveWave(ctx: Context, callId: string): Promise<void> {
  const { redis, keys, notify } = ctx;
  const [json, offers] = await Promise.all([redis.hget(keys.call(callId), 'json'), redis.hgetall(keys.callOffers(callId))]);
  if (json) notify.callChanged(JSON.parse(json) as Call);
  const now = Date.now();
  for (const [driverId, state] of Object.entries(offers)) {
    if (!(Number(state) > now)) continue;
    const offer = await redis.hget(keys.driverOffers(driverId), callId);
    if (offer) notify.offer(driverId, JSON.parse(offer) as Offer);
  }
}

/** Waiting calls matched again near each driver who becomes free (the nearest first). */
export const REMATCH_PER_DRIVER = 10;

/**
 * Drivers just became free: match again the calls waiting near them. (The accept and the trip's
 * completion find those calls in their own scripts, saving this round trip on the hot path.)
 */
export async function rematchNear(ctx: Context, driverIds: string[]): Promise<void> {
  if (driverIds.length === 0) return;
  const { keys, scripts, config, queue } = ctx;
  const callIds = (await scripts.waitingNear(keys.freeDrivers, keys.waitingCalls, config.MATCH_RADIUS_M, REMATCH_PER_DRIVER, ...driverIds)) as unknown as string[];
  await enqueueRematch(queue, callIds);
}
