/**
 * What follows a command, as data (the command layer returns it), and the one function that
 * carries it out, in a fixed order: a round's offers (pushed; they are in their drivers' indexes
 * already), then pushes (what clients wait for), then the follow-up steps and queued work the answer waits
 * for, then work that only speeds things up or tidies (in the background: call timers catch up if
 * it fails, and every follow-up is safe late, twice or never). Both roles apply effects: a gateway
 * after a client's action, a dispatcher after a matching step or a timer.
 */
import type { Logger } from 'pino';
import type { Call, DriverLocationPush, DriverSuspendedPush, Offer, RevokeReason } from '../protocol/index.js';
import { enqueueMatch, enqueueRematch, enqueueRound, type DispatchQueue } from './jobs.js';
import type { Notifier } from './notify/notifier.js';
import type { Commands } from './redis/commands.js';

export interface Effects {
  /** Offers a round made: pushed to their drivers. */
  offers?: { driverId: string; offer: Offer }[];
  /** Changed calls: `call:status` to the rider, `trip:status` to the assigned driver. */
  changed?: Call[];
  /** `trip:status` to a driver who just left the call (backed out). */
  tripEnded?: { driverId: string; call: Call }[];
  revoked?: { callId: string; drivers: string[]; reason: RevokeReason }[];
  location?: { passengerId: string; push: DriverLocationPush }[];
  /** `driver:suspended` to a driver an operator suspended. */
  suspended?: { driverId: string; push: DriverSuspendedPush }[];
  /** `driver:lifted` to drivers whose suspension an operator lifted. */
  lifted?: string[];
  /**
   * A driver's offers for these calls end (`state`), where still live; the driver is told
   * (`reason`) and those calls are matched again. `wait`: before the answer, or in the background.
   */
  endOffers?: { driverId: string; callIds: string[]; state: 'busy' | 'revoked'; reason: RevokeReason; wait: boolean }[];
  /** New calls to match for the first time (greedy; job id = call id: never queued twice). Waited for. */
  match?: string[];
  /** Regions whose round to queue now (batched: a call became ready and no round was queued). Waited for. */
  rounds?: string[];
  /** Calls to match again now. Waited for. */
  rematch?: string[];
  /** Calls to match again now, in the background. */
  rematchSoon?: string[];
  /** Drivers who just became free: the calls waiting near them are matched again, in the background. */
  freed?: string[];
  /** Calls that ended: their passenger's active-call pointer is released, in the background. */
  release?: { passengerId: string; callId: string }[];
}

export interface EffectsContext {
  notify: Notifier;
  queue: DispatchQueue;
  commands: Pick<Commands, 'waitingNear' | 'endDriverOffers' | 'releasePassenger' | 'ready'>;
  /** batched: calls matched again are readied in their regions here (no job per call); greedy: a `rematch` job each. */
  strategy: 'batched' | 'greedy';
  log: Pick<Logger, 'warn'>;
  /** A round waits this long to gather calls (MATCH_WINDOW_MS). */
  windowMs: number;
  /** Sees every revocation pushed (for metrics). */
  onRevoked?: (reason: RevokeReason, n: number) => void;
}

export async function applyEffects(ctx: EffectsContext, e: Effects): Promise<void> {
  const { notify, queue, commands } = ctx;
  for (const { driverId, offer } of e.offers ?? []) notify.offer(driverId, offer);

  for (const call of e.changed ?? []) notify.callChanged(call);
  for (const { driverId, call } of e.tripEnded ?? []) notify.tripEnded(driverId, call);
  for (const { callId, drivers, reason } of e.revoked ?? []) revoked(ctx, drivers, callId, reason);
  for (const { passengerId, push } of e.location ?? []) notify.driverLocation(passengerId, push);
  for (const { driverId, push } of e.suspended ?? []) notify.suspended(driverId, push);
  for (const driverId of e.lifted ?? []) notify.lifted(driverId);

  for (const end of e.endOffers ?? []) {
    if (end.callIds.length === 0) continue;
    // Waited for, but a failure only delays things (the offers expire; the step's retry redoes it):
    // it is logged, never the action's answer.
    if (end.wait) await endOffers(ctx, end).catch((err: unknown) => ctx.log.warn({ err }, `ending ${end.state} offers failed`));
    else background(ctx, endOffers(ctx, end), `ending ${end.state} offers`);
  }
  for (const callId of e.match ?? []) await enqueueMatch(queue, callId);
  for (const region of e.rounds ?? []) await enqueueRound(queue, region, ctx.windowMs);
  if (e.rematch?.length) await matchAgain(ctx, e.rematch);

  if (e.rematchSoon?.length) background(ctx, matchAgain(ctx, e.rematchSoon), 'rematch');
  if (e.freed?.length) background(ctx, rematchNear(ctx, e.freed), 'rematch near freed drivers');
  for (const r of e.release ?? []) background(ctx, commands.releasePassenger(r), 'releasing a passenger');
}

/** The follow-up of an accept (`busy`) or of going offline (`revoked`): tell the driver, match those calls again. */
async function endOffers(ctx: EffectsContext, end: NonNullable<Effects['endOffers']>[number]): Promise<void> {
  const ended = await ctx.commands.endDriverOffers({ driverId: end.driverId, callIds: end.callIds, state: end.state, now: Date.now() });
  for (const callId of ended) revoked(ctx, [end.driverId], callId, end.reason);
  await matchAgain(ctx, ended);
}

/** Drivers just became free: match again the calls waiting near them (the policy's one place in TypeScript). */
async function rematchNear(ctx: EffectsContext, driverIds: string[]): Promise<void> {
  await matchAgain(ctx, await ctx.commands.waitingNear(driverIds));
}

/**
 * Match these calls again now. Batched: each is readied in its region here (ready.lua), and each
 * region that was not scheduled gets one round: a freed driver near many waiting calls costs a
 * few steps, not a job per call. Greedy: a `rematch` job per call.
 */
async function matchAgain(ctx: EffectsContext, callIds: string[]): Promise<void> {
  if (callIds.length === 0) return;
  if (ctx.strategy === 'greedy') return enqueueRematch(ctx.queue, callIds);
  const now = Date.now();
  const readied = await Promise.all(callIds.map((callId) => ctx.commands.ready({ callId, now })));
  for (const region of new Set(readied.flatMap((r) => r.effects.rounds ?? []))) await enqueueRound(ctx.queue, region, ctx.windowMs);
}

function revoked(ctx: EffectsContext, drivers: string[], callId: string, reason: RevokeReason): void {
  if (drivers.length === 0) return;
  ctx.notify.revoked(drivers, callId, reason);
  ctx.onRevoked?.(reason, drivers.length);
}

function background(ctx: EffectsContext, work: Promise<unknown>, what: string): void {
  work.catch((err: unknown) => ctx.log.warn({ err }, `${what} failed`));
}
