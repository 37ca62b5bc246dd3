/**
 * Matching: a batched round of a region, or (MATCH_STRATEGY=greedy) one call on its own. Both read
 * the calls and the eligible drivers near them with plain reads, plan the offers
 * (./assign.ts), and write them through one commit script that checks everything again
 * (round-commit.lua): the reads need no lock, and no interleaving of rounds, greedy matches,
 * accepts or timers can break the guarantees (a driver's cap, one live wave per call).
 *
 * A region's rounds never overlap: round-begin.lua gives the round the region's lease with a
 * fencing token, and only that token's commit writes. Rounds run group-commit style: a call that
 * becomes ready when no round is queued or running queues one at once (after MATCH_WINDOW_MS);
 * calls that become ready while a round runs wait in the region's ready set, and that round's
 * commit queues the next. A round that dies (kill -9) or a job that is lost leaves its region
 * scheduled: the lease ends and the sweep (./timers.ts) runs the region again.
 */
import { writeFileSync } from 'node:fs';
import type { Call, Offer } from '../../protocol/index.js';
import { clock, follow, type Context } from '../context.js';
import { enqueueRound, ROUND_LEASE_MS } from '../jobs.js';
import type { RoundCommit, RoundPlan, RoundRead } from '../redis/commands.js';
import { planRound, type RoundInput } from './assign.js';

export type RoundOutcome = 'busy' | 'empty' | 'stale' | 'committed';

/** When a round made no progress at all (every driver it planned was taken meanwhile), the next waits this long. */
const NO_PROGRESS_RETRY_MS = 200;

/** Rounds one job runs back to back (group commit without a queue hop) before it queues the next. */
const CHAINED_ROUNDS = 20;

/**
 * A region's batched rounds: one, then the next at once while its commit says calls are still
 * ready (without a queue hop, unless a gathering window is set). `rerun` (the job ran before: its
 * dispatcher may have died between a commit and its pushes): the live waves of the calls it
 * offered are pushed again first.
 */
export async function runRound(ctx: Context, region: string, jobId: string, rerun = false): Promise<RoundOutcome> {
  if (rerun) for (const callId of await ctx.commands.roundRecord(jobId)) await resendLiveWave(ctx, callId);
  let outcome: RoundOutcome = 'empty';
  for (let n = 0; n < CHAINED_ROUNDS; n++) {
    const last = n === CHAINED_ROUNDS - 1 || ctx.config.MATCH_WINDOW_MS > 0;
    const r = await oneRound(ctx, region, jobId, last);
    outcome = r.outcome;
    if (!r.next) break;
  }
  return outcome;
}

/** One round; `next`: the caller runs the next one now (`queue`: false). */
async function oneRound(ctx: Context, region: string, jobId: string, queue: boolean): Promise<{ outcome: RoundOutcome; next: boolean }> {
  const { config, metrics } = ctx;
  const started = performance.now();
  const begin = await ctx.commands.roundBegin({ region, now: Date.now(), leaseMs: ROUND_LEASE_MS, max: config.MATCH_ROUND_MAX_CALLS });
  if (begin.outcome !== 'begun') return { outcome: begin.outcome, next: false };
  let r: RoundCommit;
  try {
    r = await match(ctx, region, begin.token, begin.callIds, config.MATCH_STRATEGY, jobId);
  } catch (err) {
    // Hand the region back now (an empty commit releases the lease and queues the next round)
    // rather than leave it to the lease's end; if Redis is away, the lease ends by itself.
    const empty = await ctx.commands.roundCommit({ region, token: begin.token, plan: { calls: [] }, indexed: new Map(), now: clock() }).catch(() => undefined);
    if (empty) await follow(ctx, empty.effects).catch(() => undefined);
    throw err;
  }
  metrics.roundSeconds.observe((performance.now() - started) / 1000);
  metrics.roundCalls.observe(begin.callIds.length);
  log(ctx, region, begin.callIds.length, r);
  if (!r.again) {
    await follow(ctx, r.effects);
    return { outcome: r.outcome, next: false };
  }
  if (r.lost.length > 0 && r.offered.length === 0 && r.waiting.length === 0) {
    // Only lost calls: a competing round took the drivers; let the state settle before trying again.
    await follow(ctx, { ...r.effects, rounds: [] });
    await enqueueRound(ctx.queue, region, NO_PROGRESS_RETRY_MS);
    return { outcome: r.outcome, next: false };
  }
  if (queue) {
    await follow(ctx, r.effects);
    return { outcome: r.outcome, next: false };
  }
  await follow(ctx, { ...r.effects, rounds: [] });
  return { outcome: r.outcome, next: true };
}

/**
 * Greedy: one call matched on its own, nearest eligible drivers first (no lease: its commit checks
 * everything again). `rerun`: the job ran before and may have died between its commit and its
 * pushes, so a live wave is pushed again (clients drop repeats by callId and seq).
 */
export async function matchCall(ctx: Context, callId: string, rerun = false): Promise<RoundOutcome> {
  const started = performance.now();
  const region = (await ctx.redis.hget(ctx.keys.call(callId), 'region')) ?? '';
  const r = await match(ctx, region, '', [callId], 'greedy');
  ctx.metrics.roundSeconds.observe((performance.now() - started) / 1000);
  ctx.metrics.roundCalls.observe(1);
  // Its drivers were taken between the read and the commit: match it again.
  await follow(ctx, { ...r.effects, rematch: r.lost });
  if (rerun && r.offered.length === 0) await resendLiveWave(ctx, callId);
  log(ctx, region, 1, r);
  return r.outcome;
}

async function match(
  ctx: Context, region: string, token: string, callIds: string[], strategy: 'batched' | 'greedy', jobId?: string,
): Promise<RoundCommit> {
  const now = Date.now();
  const read = await ctx.commands.readRound({ callIds, now });
  const input = roundInput(ctx, read, now);
  const plan = planRound(input, strategy, ctx.config.MATCH_ROUND_MAX_CALLS);
  record(ctx, input);
  const drivers = input.drivers;
  const byId = new Map(input.calls.map((c, i) => [c.id, plan.waves[i] ?? []]));
  // Offers carry the true distance (the solver saw the effective one, see roundInput).
  const real = new Map(read.calls.flatMap((c) => c.candidates.map((k) => [`${c.id} ${k.driverId}`, k.distanceM] as const)));
  const roundPlan: RoundPlan = {
    calls: read.calls.map((c) => ({
      id: c.id, wave: c.wave, skip: c.skip,
      offers: (byId.get(c.id) ?? []).map((o) => {
        const driverId = drivers[o.driver]!.id;
        return { driverId, distanceM: real.get(`${c.id} ${driverId}`) ?? o.distanceM };
      }),
    })),
  };
  const r = await ctx.commands.roundCommit({ region, token, plan: roundPlan, indexed: read.indexed, now: clock(), jobId });
  for (const o of r.offered) {
    ctx.metrics.offers.inc(o.offers.length);
    ctx.log.info({ callId: o.callId, wave: o.wave, drivers: o.offers.map((x) => x.driverId), status: o.call.status }, 'offer wave sent');
    if (o.changed) ctx.metrics.requestToOffer.observe((Date.now() - Date.parse(o.call.createdAt)) / 1000);
  }
  if (r.waiting.length) await reviveWaiting(ctx, r.waiting);
  return r;
}

/**
 * Calls the commit just put to wait for a driver: a driver that became free (or whose offer
 * ended) after the read but before the commit looked for waiting calls before these were there.
 * Read once more: anything that happened before the commit shows here, and anything after it
 * finds the calls waiting. Calls that have a candidate now are matched again.
 */
async function reviveWaiting(ctx: Context, callIds: string[]): Promise<void> {
  const again = await ctx.commands.readRound({ callIds, now: Date.now() });
  await follow(ctx, { rematch: again.calls.filter((c) => !c.skip && c.candidates.length > 0).map((c) => c.id) });
}

/**
 * The solver's input: the ready calls (oldest first, as read) and their candidates, by index. With
 * a cap above 1, a driver already holding live offers counts as MATCH_RADIUS_M farther for each
 * (its effective distance), so it takes another call only when no driver without one is near:
 * each extra offer it holds is a `busy` revocation when it wins one of them.
 */
function roundInput(ctx: Context, read: RoundRead, now: number): RoundInput {
  const ids = [...read.drivers.keys()];
  const slot = new Map(ids.map((d, j) => [d, j]));
  const { MAX_OFFERS_PER_DRIVER: cap, MATCH_RADIUS_M: radius } = ctx.config;
  const held = (d: string) => cap - read.drivers.get(d)!.capLeft;
  return {
    waveSize: ctx.config.OFFER_WAVE_SIZE,
    drivers: ids.map((id) => ({ id, ...read.drivers.get(id)!, held: held(id) })),
    calls: read.calls
      .filter((c) => !c.skip)
      .map((c) => ({
        id: c.id,
        ageMs: Math.max(0, now - c.createdMs),
        priority: now - c.createdMs > ctx.config.MATCH_PRIORITY_AFTER_MS,
        candidates: c.candidates.map((k) => ({ driver: slot.get(k.driverId)!, distanceM: k.distanceM + radius * held(k.driverId) })),
      })),
  };
}

/** MATCH_RECORD_FILE: the input of the largest round so far, for offline replay (bench/). */
let recorded = 0;
function record(ctx: Context, input: RoundInput): void {
  const file = ctx.config.MATCH_RECORD_FILE;
  if (!file || input.calls.length <= recorded) return;
  recorded = input.calls.length;
  try {
    writeFileSync(file, JSON.stringify(input));
  } catch (err) {
    ctx.log.warn({ err, file }, 'could not record a round');
  }
}

function log(ctx: Context, region: string, calls: number, r: RoundCommit): void {
  if (r.outcome === 'stale') ctx.log.warn({ region }, 'a newer round of the region began before this one committed: nothing written; that round takes its calls');
  else if (r.offered.length || r.waiting.length) {
    ctx.log.debug({ region, calls, offered: r.offered.length, waiting: r.waiting.length, lost: r.lost.length }, 'round committed');
  }
}

/** Push a call's status and its live offers again (recovery after a crash between a commit and its pushes). */
async function resendLiveWave(ctx: Context, callId: string): Promise<void> {
  const { redis, keys, notify } = ctx;
  const [json, offers, sent] = await Promise.all([
    redis.hget(keys.call(callId), 'json'), redis.hgetall(keys.callOffers(callId)), redis.hgetall(keys.callSent(callId)),
  ]);
  if (json) notify.callChanged(JSON.parse(json) as Call);
  const now = Date.now();
  for (const [driverId, state] of Object.entries(offers)) {
    const offer = sent[driverId];
    if (Number(state) > now && offer) notify.offer(driverId, JSON.parse(offer) as Offer);
  }
}
