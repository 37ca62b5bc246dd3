/**
 * The command layer: the one place that builds each script's KEYS (from ids) and ARGV, and decodes
 * its reply (one JSON object with named fields) into a typed result. A refusal becomes the
 * protocol error of ./outcomes.ts. Mutating commands also say what must follow them as data
 * (`effects`: pushes, revocations, calls to match again, follow-up steps), carried out by
 * server/effects.ts. Nothing outside this file builds a KEYS list or reads a script reply.
 *
 * Every key a script touches is in its KEYS. Where a script would need a key it only learns at run
 * time, either the command reads it first and the script checks it is still so (`{ retry = 1 }`
 * otherwise: the command reads again, a bounded number of times), or that part is a follow-up step
 * on keys of its own (index-offers.lua, end-driver-offers.lua, release-passenger.lua), safe to run
 * late, twice or never (each script's header says why).
 */
import type { Redis } from 'ioredis';
import type { Call, LatLng, Offer } from '../../protocol/index.js';
import type { Effects } from '../effects.js';
import { AppError } from '../errors.js';
import type { Keys } from './keys.js';
import { FAIL, refusal } from './outcomes.js';
import { scriptRunner, type ScriptName } from './scripts.js';

/** The time of a step, as scripts record it. */
export interface Now {
  ms: number;
  iso: string;
}

export type TripStep = 'arrived' | 'in_progress' | 'completed';

/** A decoded reply: cjson encodes an empty list as `{}`, and calls travel as their stored JSON. */
type Raw = Record<string, unknown>;
const list = <T = string>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
const callOf = (v: unknown): Call => JSON.parse(v as string) as Call;
const num = (v: unknown): number => Number(v);
/** Offers as scripts send them: the driver and the offer's stored JSON. */
const offersOf = (v: unknown): { driverId: string; offer: Offer }[] =>
  list<{ driverId: string; offer: string }>(v).map((o) => ({ driverId: o.driverId, offer: JSON.parse(o.offer) as Offer }));
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

export interface AcceptResult {
  outcome: 'won' | 'retried';
  call: Call;
  effects: Effects;
}

export type MatchResult =
  | { outcome: 'offered'; call: Call; changed: boolean; wave: number; offers: { driverId: string; offer: Offer }[]; effects: Effects }
  | { outcome: 'waiting'; wave: number; effects: Effects }
  | { outcome: 'live'; wave: number; liveUntil: number; effects: Effects }
  | { outcome: 'unfulfilled'; call: Call; effects: Effects }
  | { outcome: 'gone' | 'closed' | 'stale'; effects: Effects };

export type GraceResult = { outcome: 'offline'; effects: Effects } | { outcome: 'came-back' | 'after-trip'; effects: Effects };

const NONE: Effects = {};
/** A command whose reads went stale under a racing step reads again at most this often. */
const RETRIES = 5;

export interface MatchSettings {
  offerTimeoutMs: number;
  waveSize: number;
  radiusM: number;
  callTimeoutMs: number;
}

/** Waiting calls matched again near each driver who becomes free (the nearest first). */
export const REMATCH_PER_DRIVER = 10;

export function makeCommands(redis: Redis, keys: Keys, match: MatchSettings) {
  const runScript = scriptRunner(redis);
  /** Run a script; a refusal (`{ fail }`) throws its protocol error. */
  const run = async (name: ScriptName, k: string[], args: (string | number)[]): Promise<Raw> => {
    const r = JSON.parse((await runScript(name, k, args)) as string) as Raw;
    if (typeof r.fail === 'string') throw refusal(name, r.fail);
    return r;
  };
  /** Read, then run; again while the script says the reads went stale. */
  const runFresh = async <T>(name: ScriptName, read: () => Promise<T>, step: (seen: T) => [string[], (string | number)[]]): Promise<Raw> => {
    for (let attempt = 1; ; attempt++) {
      const [k, args] = step(await read());
      const r = await run(name, k, args);
      if (r.retry !== 1) return r;
      // Racing steps kept moving what it read: answer as for a busy dependency (the client retries).
      if (attempt >= RETRIES) throw new AppError('UNAVAILABLE', `too many concurrent changes (${name}); try again`);
    }
  };

  return {
    /** Create (or, for a repeated requestId, return) a passenger's call. */
    async request(i: {
      callId: string; passengerId: string; requestId: string; pickup: LatLng; dropoff: LatLng; now: Now; requestTtlS: number; safetyTimerMs: number;
    }): Promise<{ call: Call; created: boolean; effects: Effects }> {
      const requestKey = keys.request(i.passengerId, i.requestId);
      const activeKey = keys.passengerActive(i.passengerId);
      // The calls the two pointers name are keys of the script. Most requests find both empty: try
      // that first; the script says so when not, and the next try passes what the pointers name.
      let tried = false;
      const r = await runFresh('request', async (): Promise<[string, string]> => {
        if (!tried) {
          tried = true;
          return ['', ''];
        }
        return (await Promise.all([redis.get(requestKey), redis.get(activeKey)])).map((v) => v ?? '') as [string, string];
      }, ([existing, active]) => [
        [
          requestKey, activeKey, keys.call(i.callId), keys.allCalls, keys.passengerCalls(i.passengerId), keys.ledger, keys.callTimers,
          ...(existing ? [keys.call(existing)] : []), ...(active ? [keys.call(active)] : []),
        ],
        [i.callId, i.passengerId, i.requestId, JSON.stringify(i.pickup), JSON.stringify(i.dropoff), i.now.ms, i.now.iso, i.requestTtlS, i.safetyTimerMs, existing, active],
      ]);
      const call = callOf(r.call);
      const created = r.created === 1;
      // A repeat of a request whose enqueue may have failed queues it again (a no-op if queued).
      return { call, created, effects: { changed: created ? [call] : [], match: call.status === 'requested' ? [call.id] : [] } };
    },

    /** A passenger (its own call) or an admin cancels a call whose trip has not started. */
    async cancel(i: { callId: string; userId: string; role: string; reason: string; now: Now }): Promise<{ call: Call; freedDriver: string; effects: Effects }> {
      // The passenger's pointer and the assigned driver's hash are keys of the script: read whose they are first.
      const read = async () => {
        const json = await redis.hget(keys.call(i.callId), 'json');
        if (!json) throw refusal('cancel', FAIL.NO_CALL);
        const c = JSON.parse(json) as Call;
        return { driver: c.driverId ?? '', passenger: c.passengerId };
      };
      const r = await runFresh('cancel', read, ({ driver, passenger }) => [
        [
          keys.call(i.callId), keys.callOffers(i.callId), keys.freeDrivers, keys.waitingCalls, keys.ledger, keys.callTimers,
          keys.passengerActive(passenger), ...(driver ? [keys.driver(driver)] : []),
        ],
        [i.userId, i.role, i.reason, i.now.ms, i.now.iso, driver, passenger],
      ]);
      const call = callOf(r.call);
      const revoked = list(r.revoked);
      const driverId = str(r.driverId);
      return {
        call,
        freedDriver: driverId,
        effects: {
          changed: [call],
          revoked: [{ callId: i.callId, drivers: revoked, reason: 'cancelled' }],
          freed: r.freed === 1 ? [driverId, ...revoked] : revoked,
        },
      };
    },

    /** The accept: one step decides the winner; everyone else's offers end. */
    async accept(i: { callId: string; driverId: string; now: Now }): Promise<AcceptResult> {
      const r = await run('accept', [
        keys.call(i.callId), keys.callOffers(i.callId), keys.driver(i.driverId), keys.driverOffers(i.driverId),
        keys.freeDrivers, keys.waitingCalls, keys.ledger, keys.callTimers,
      ], [i.driverId, i.now.ms, i.now.iso, match.radiusM, REMATCH_PER_DRIVER]);
      const call = callOf(r.call);
      // This driver's other offers end `busy` (and those calls are matched again) before the answer;
      // a failure there is logged, never the accept's. A retried accept redoes it, in case it died.
      const busy: Effects['endOffers'] = [{ driverId: i.driverId, callIds: list(r.others), state: 'busy', reason: 'busy', wait: true }];
      if (r.outcome !== 'won') return { outcome: 'retried', call, effects: { endOffers: busy } };
      const taken = list(r.taken);
      return {
        outcome: 'won',
        call,
        effects: {
          changed: [call],
          revoked: [{ callId: i.callId, drivers: taken, reason: 'taken' }],
          endOffers: busy,
          // Calls waiting near the drivers who lost this call may have them now.
          rematchSoon: list(r.near),
        },
      };
    },

    async reject(i: { callId: string; driverId: string; now: Now }): Promise<{ effects: Effects }> {
      const r = await run('reject', [keys.call(i.callId), keys.callOffers(i.callId), keys.driverOffers(i.driverId)], [i.driverId, i.now.ms]);
      // The last live offer of the wave was turned down: the next wave goes out now, not at the timeout.
      return { effects: { rematch: num(r.live) === 0 ? [i.callId] : [], freed: [i.driverId] } };
    },

    /** arrived → in_progress → completed, by the assigned driver only. */
    async tripStep(i: { callId: string; driverId: string; to: TripStep; now: Now }): Promise<{ call: Call; effects: Effects }> {
      // Completing releases the passenger's active-call pointer in the same step: read whose it is
      // (a call's passenger never changes) so that key can be passed.
      const passenger = i.to === 'completed' ? await redis.hget(keys.call(i.callId), 'passengerId') : null;
      const r = await run('tripStep', [
        keys.call(i.callId), keys.freeDrivers, keys.waitingCalls, keys.ledger, keys.driver(i.driverId),
        ...(passenger ? [keys.passengerActive(passenger)] : []),
      ], [i.driverId, i.to, i.now.ms, i.now.iso, match.radiusM, REMATCH_PER_DRIVER]);
      const call = callOf(r.call);
      // The freed driver is there for the calls waiting near it (the script found them).
      return { call, effects: { changed: [call], rematchSoon: list(r.near) } };
    },

    /** The assigned driver backs out: the call is offered again, to others. */
    async tripCancel(i: { callId: string; driverId: string; now: Now }): Promise<{ call: Call; gen: number; effects: Effects }> {
      const r = await run('tripCancel', [
        keys.call(i.callId), keys.callOffers(i.callId), keys.freeDrivers, keys.ledger, keys.callTimers, keys.driver(i.driverId),
      ], [i.driverId, i.now.ms, i.now.iso]);
      const call = callOf(r.call);
      // Matched again now; the script also left a timer due now, in case this process dies first.
      return {
        call,
        gen: num(r.gen),
        effects: { changed: [call], tripEnded: [{ driverId: i.driverId, call }], rematch: [i.callId], freed: r.freed === 1 ? [i.driverId] : [] },
      };
    },

    /** One matching step (see server/dispatch/matcher.ts); `fence` is the wave a timer was set for. */
    async offer(i: { callId: string; now: Now; fence?: number }): Promise<MatchResult> {
      const r = await run('offer', [
        keys.call(i.callId), keys.callOffers(i.callId), keys.freeDrivers, keys.waitingCalls, keys.ledger, keys.callTimers, keys.callSent(i.callId),
      ], [i.callId, i.now.ms, i.now.iso, match.offerTimeoutMs, match.waveSize, match.radiusM, i.fence ?? '', match.callTimeoutMs]);
      const expired = list(r.expired);
      // Drivers whose offers just ended are free: other waiting calls near them may use them.
      const ended: Effects = {
        revoked: [{ callId: i.callId, drivers: expired, reason: 'expired' }], freed: expired,
      };
      switch (r.outcome) {
        case 'offered': {
          const call = callOf(r.call);
          const offers = offersOf(r.offers);
          const changed = r.changed === 1;
          return {
            outcome: 'offered', call, changed, wave: num(r.wave), offers,
            // The offers are pushed at once, then go into their drivers' indexes (index-offers.lua).
            effects: { ...ended, index: [{ callId: i.callId, drivers: offers.map((o) => o.driverId), offers }], changed: changed ? [call] : [] },
          };
        }
        case 'waiting':
          return { outcome: 'waiting', wave: num(r.wave), effects: ended };
        case 'live':
          return { outcome: 'live', wave: num(r.wave), liveUntil: num(r.liveUntil), effects: NONE };
        case 'unfulfilled': {
          const call = callOf(r.call);
          return { outcome: 'unfulfilled', call, effects: { ...ended, changed: [call], release: [{ passengerId: call.passengerId, callId: call.id }] } };
        }
        default:
          return { outcome: r.outcome === 'stale' ? 'stale' : r.outcome === 'gone' ? 'gone' : 'closed', effects: NONE };
      }
    },

    async driverOnline(i: { driverId: string; pos: LatLng; now: number }): Promise<{ status: 'available'; effects: Effects }> {
      await run('driverOnline', [keys.driver(i.driverId), keys.freeDrivers], [i.driverId, i.pos.lat, i.pos.lng, i.now]);
      return { status: 'available', effects: { freed: [i.driverId] } };
    },

    /** The driver asks to go offline (`awaySince` undefined), or its grace timer ran out (fenced by it). */
    async driverOffline(i: { driverId: string; now: number; awaySince?: string }): Promise<GraceResult> {
      const r = await run('driverOffline', [keys.driver(i.driverId), keys.freeDrivers, keys.driverOffers(i.driverId)], [
        i.driverId, i.now, i.awaySince ?? '',
      ]);
      if (r.outcome !== 'offline') return { outcome: r.outcome === 'after-trip' ? 'after-trip' : 'came-back', effects: NONE };
      // Its live offers end (`expired` to it) and those calls are matched again, before the answer.
      return { outcome: 'offline', effects: { endOffers: [{ driverId: i.driverId, callIds: list(r.held), state: 'revoked', reason: 'expired', wait: true }] } };
    },

    /** A position report; while on a trip its rider is told, at most once per `pushEveryMs`. */
    async driverLocation(i: { driverId: string; pos: LatLng; now: number; pushEveryMs: number }): Promise<{ effects: Effects }> {
      const r = await run('driverLocation', [keys.driver(i.driverId), keys.freeDrivers], [i.driverId, i.pos.lat, i.pos.lng, i.now, i.pushEveryMs]);
      if (r.tell !== 1 || !r.passengerId) return { effects: NONE };
      const callId = str(r.callId);
      return {
        effects: {
          location: [{ passengerId: str(r.passengerId), push: { callId, lat: i.pos.lat, lng: i.pos.lng, at: new Date(i.now).toISOString() } }],
        },
      };
    },

    /**
     * What a (re)connecting driver is told: its current trip and its live offers. Plain reads, no
     * script (nothing to decide atomically): the driver's hash and offer index, then the trip and
     * each indexed offer's state; entries of offers no longer live are dropped from the index.
     */
    async driverResync(i: { driverId: string; now: number }): Promise<{ trip: Call | null; offers: Offer[] }> {
      const [callId, index] = await Promise.all([redis.hget(keys.driver(i.driverId), 'callId'), redis.hgetall(keys.driverOffers(i.driverId))]);
      const calls = Object.keys(index);
      const [trip, ...states] = await Promise.all([
        callId ? redis.hget(keys.call(callId), 'json') : Promise.resolve(null),
        ...calls.map((c) => redis.hget(keys.callOffers(c), i.driverId)),
      ]);
      const live: Offer[] = [];
      const stale: string[] = [];
      calls.forEach((c, j) => {
        if (Number(states[j]) > i.now) live.push(JSON.parse(index[c]!) as Offer);
        else stale.push(c);
      });
      if (stale.length) await redis.hdel(keys.driverOffers(i.driverId), ...stale);
      return { trip: trip ? (JSON.parse(trip) as Call) : null, offers: live };
    },

    /** Follow-up: end this driver's offers for these calls, where still live (one step); the calls where they were. */
    async endDriverOffers(i: { driverId: string; callIds: string[]; state: 'busy' | 'revoked'; now: number }): Promise<string[]> {
      if (i.callIds.length === 0) return [];
      const r = await run('endDriverOffers', [keys.driverOffers(i.driverId), ...i.callIds.map((c) => keys.callOffers(c))], [
        i.driverId, i.state, i.now, ...i.callIds,
      ]);
      return list(r.ended);
    },

    /**
     * Follow-up of a wave: each offer into its driver's index (index-offers.lua, one step), if the
     * offer is still live and the driver still available. The offers indexed, and those that ended
     * because their driver no longer was (`busy`: it won another call; `revoked`: it went offline).
     */
    async indexOffers(i: { callId: string; drivers: string[] }): Promise<{
      indexed: { driverId: string; offer: Offer }[]; ended: { driverId: string; state: 'busy' | 'revoked' }[];
    }> {
      if (i.drivers.length === 0) return { indexed: [], ended: [] };
      const r = await run('indexOffers', [
        keys.callOffers(i.callId), keys.callSent(i.callId), ...i.drivers.flatMap((d) => [keys.driver(d), keys.driverOffers(d)]),
      ], [i.callId, Date.now(), ...i.drivers]);
      return { indexed: offersOf(r.indexed), ended: list<{ driverId: string; state: 'busy' | 'revoked' }>(r.ended) };
    },

    /** Follow-up: a passenger whose call ended may call again (only while the pointer names that call). */
    async releasePassenger(i: { passengerId: string; callId: string }): Promise<void> {
      await run('releasePassenger', [keys.passengerActive(i.passengerId)], [i.callId]);
    },

    /** The driver's last socket closed: the `awaySince` its grace runs from, or '' if it came back. */
    async driverAway(i: { driverId: string; connects: string; now: number }): Promise<string> {
      const r = await run('driverAway', [keys.driver(i.driverId)], [i.connects, i.now]);
      return str(r.awaySince);
    },

    /** The open calls waiting near these drivers (who just became free). */
    async waitingNear(driverIds: string[]): Promise<string[]> {
      if (driverIds.length === 0) return [];
      const r = await run('waitingNear', [keys.freeDrivers, keys.waitingCalls], [match.radiusM, REMATCH_PER_DRIVER, ...driverIds]);
      return list(r.calls);
    },

    /** Due call timers, each leased to this sweeper: member `callId:wave` and the score it was due at. */
    async dueTimers(i: { now: number; leaseMs: number; max: number }): Promise<{ member: string; dueMs: string }[]> {
      const r = await run('dueTimers', [keys.callTimers], [i.now, i.leaseMs, i.max]);
      const due = list(r.due);
      const out: { member: string; dueMs: string }[] = [];
      for (let j = 0; j + 1 < due.length; j += 2) out.push({ member: due[j]!, dueMs: due[j + 1]! });
      return out;
    },
  };
}

export type Commands = ReturnType<typeof makeCommands>;
