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
import type { Call, DriverProfile, DriverSuspendedPush, LatLng, Offer } from '../../protocol/index.js';
import type { Config } from '../config.js';
import type { Effects } from '../effects.js';
import { regionRescueMs } from '../jobs.js';
import { AppError } from '../errors.js';
import { CLUSTER_SLACK_M, clusterOf, geoDistanceM } from '../region.js';
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
  /** The waves the call needed (0 for a retried accept). */
  waves: number;
  effects: Effects;
}

/** A call's timer ran (wave-end.lua). */
export type WaveEndResult =
  | { outcome: 'ready'; effects: Effects }
  | { outcome: 'unfulfilled'; call: Call; effects: Effects }
  | { outcome: 'gone' | 'closed' | 'stale'; effects: Effects };

/** What a round read (plain reads, no lock): the calls, and the eligible drivers near each. */
export interface RoundRead {
  calls: {
    id: string; region: string; wave: number; createdMs: number; vehicleClass: string;
    /** Not ready when read (gone, closed, a wave live): the commit only drops it if it still is not. */
    skip: boolean;
    /** Eligible drivers (available, its class, under their cap, never offered this call), nearest first. */
    candidates: { driverId: string; distanceM: number }[];
  }[];
  /** Every candidate: ms since it became free, and the offers it may still take. */
  drivers: Map<string, { idleMs: number; capLeft: number }>;
  /** Per candidate driver, the other calls its offer index names (their offers hashes are keys of the commit). */
  indexed: Map<string, string[]>;
}

/** A round's plan: per call, the drivers of its wave (assigned first) with their distance. */
export interface RoundPlan {
  calls: { id: string; wave: number; skip: boolean; offers: { driverId: string; distanceM: number }[] }[];
}

export interface RoundCommit {
  outcome: 'committed' | 'stale';
  offered: { callId: string; call: Call; changed: boolean; wave: number; offers: { driverId: string; offer: Offer }[] }[];
  waiting: string[];
  lost: string[];
  again: boolean;
  effects: Effects;
}

/** One online driver as the ops index reads it (onlineDrivers). */
export interface OnlineDriver {
  driverId: string;
  status: 'available' | 'busy';
  lat: number | null;
  lng: number | null;
  /** Epoch ms of its last update (online, position, freed). */
  updatedAt: number;
  /** Its score in the online drivers index: epoch ms of its last change of any kind (position, status, offer, away, suspension). */
  changedAt: number;
  /** Its trip, when busy. */
  callId: string | null;
  vehicleClass: string | null;
  /** Epoch ms its last socket closed (its grace runs from it); null while connected. */
  awaySince: number | null;
  /** An operator's suspension is recorded on it (a suspended driver on a trip stays online till the trip ends). */
  suspended: boolean;
  /** It holds a live offer. */
  offered: boolean;
}

/** What the two ops indexes hold, counted (indexCounts): at most `max` members of each are read. */
export interface IndexCounts {
  drivers: { online: number; available: number; busy: number; away: number; counted: number };
  calls: { open: number; byStatus: Record<string, number>; counted: number };
}

export type GraceResult = { outcome: 'offline'; effects: Effects } | { outcome: 'came-back' | 'after-trip'; effects: Effects };

const NONE: Effects = {};
/** A command whose reads went stale under a racing step reads again at most this often. */
const RETRIES = 5;

export interface MatchSettings {
  strategy: 'batched' | 'greedy';
  offerTimeoutMs: number;
  waveSize: number;
  radiusM: number;
  callTimeoutMs: number;
  /** Live offers one driver may hold at once. */
  maxOffersPerDriver: number;
  defaultVehicleClass: string;
  pickupSpeedKmh: number;
  /** ms before the sweep runs a scheduled region nobody ran. */
  regionRescueMs: number;
}

/** The settings of the matching commands, from the configuration. */
export function matchSettings(config: Config): MatchSettings {
  return {
    strategy: config.MATCH_STRATEGY, offerTimeoutMs: config.OFFER_TIMEOUT_MS, waveSize: config.OFFER_WAVE_SIZE, radiusM: config.MATCH_RADIUS_M,
    callTimeoutMs: config.CALL_TIMEOUT_MS, maxOffersPerDriver: config.MAX_OFFERS_PER_DRIVER, defaultVehicleClass: config.DEFAULT_VEHICLE_CLASS,
    pickupSpeedKmh: config.PICKUP_SPEED_KMH, regionRescueMs: regionRescueMs(config.MATCH_WINDOW_MS),
  };
}

/** Pickups of a round this close together (one small H3 cell) share one search for drivers. */
const CLUSTER_MIN = 4;

/** Redis GEO indexes latitudes within ±85.05112878 only (as lib/geo.lua). */
const geoLat = (lat: number) => Math.max(-85.05112878, Math.min(85.05112878, lat));

/** Waiting calls matched again near each driver who becomes free (the nearest first). */
export const REMATCH_PER_DRIVER = 10;

/** What `driver:online` of a suspended driver answers (FORBIDDEN): the reason, and until when. */
export function suspendedMessage(reason: string, untilMs: string): string {
  const until = untilMs === '' ? 'until lifted' : `until ${new Date(Number(untilMs)).toISOString()}`;
  return `driver suspended: ${reason}; ${until}`;
}

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

  /** A call's region (written when it was made, never changed); '' when the call is gone. */
  const regionOfCall = async (callId: string): Promise<string> => (await redis.hget(keys.call(callId), 'region')) ?? '';
  /** Run a pipeline of plain reads; any error fails the whole read. */
  const execAll = async (p: ReturnType<Redis['pipeline']>): Promise<unknown[]> =>
    ((await p.exec()) ?? []).map(([err, v]) => {
      if (err) throw err;
      return v;
    });
  /**
   * Drivers of the online drivers index from a WITHSCORES reply: one pipelined read of their hashes
   * and offer indexes (never a SCAN), then one of the offers' states for the few that name an offer
   * not yet past its expiry: `offered` is true only for an offer still live (as driverResync counts
   * it). A driver whose hash says offline (a step raced this read) is left out.
   */
  const readDrivers = async (flat: string[]): Promise<OnlineDriver[]> => {
    if (flat.length === 0) return [];
    const now = Date.now();
    const p = redis.pipeline();
    const ids: { id: string; score: number }[] = [];
    for (let j = 0; j + 1 < flat.length; j += 2) {
      ids.push({ id: flat[j]!, score: Number(flat[j + 1]) });
      p.hmget(keys.driver(flat[j]!), 'status', 'lat', 'lng', 'updatedAt', 'callId', 'vehicleClass', 'awaySince', 'suspended', 'suspendedUntil');
      p.hgetall(keys.driverOffers(flat[j]!));
    }
    const replies = await execAll(p);
    const numOrNull = (v: string | null | undefined) => (v === null || v === undefined || v === '' ? null : Number(v));
    const out: OnlineDriver[] = [];
    /** For each driver out, the calls of its index whose offers have not expired yet. */
    const pending: { driver: OnlineDriver; callIds: string[] }[] = [];
    ids.forEach(({ id, score }, j) => {
      const [status, lat, lng, updatedAt, callId, vehicleClass, awaySince, suspended, until] = (replies[2 * j] ?? []) as (string | null)[];
      if (status !== 'available' && status !== 'busy') return;
      const driver: OnlineDriver = {
        driverId: id, status, lat: numOrNull(lat), lng: numOrNull(lng), updatedAt: numOrNull(updatedAt) ?? score, changedAt: score,
        callId: callId ? callId : null, vehicleClass: vehicleClass ? vehicleClass : null, awaySince: numOrNull(awaySince),
        suspended: suspended === '1' && !(Number(until) > 0 && Number(until) <= now),
        offered: false,
      };
      out.push(driver);
      if (status !== 'available') return;
      const index = (replies[2 * j + 1] ?? {}) as Record<string, string>;
      const callIds = Object.keys(index).filter((c) => {
        try {
          return Number((JSON.parse(index[c]!) as { expiresAt?: unknown }).expiresAt) > now;
        } catch {
          return false;
        }
      });
      if (callIds.length) pending.push({ driver, callIds });
    });
    if (pending.length) {
      const q = redis.pipeline();
      for (const { driver, callIds } of pending) for (const c of callIds) q.hget(keys.callOffers(c), driver.driverId);
      const states = (await execAll(q)) as (string | null)[];
      let k = 0;
      for (const { driver, callIds } of pending) {
        for (let n = 0; n < callIds.length; n++) if (Number(states[k++]) > now) driver.offered = true;
      }
    }
    return out;
  };

  return {
    /** Create (or, for a repeated requestId, return) a passenger's call. */
    async request(i: {
      callId: string; passengerId: string; requestId: string; pickup: LatLng; dropoff: LatLng; now: Now; requestTtlMs: number; safetyTimerMs: number;
      region: string; vehicleClass: string;
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
          keys.regionReady(i.region), keys.regions, keys.openCalls,
          ...(existing ? [keys.call(existing)] : []), ...(active ? [keys.call(active)] : []),
        ],
        [
          i.callId, i.passengerId, i.requestId, JSON.stringify(i.pickup), JSON.stringify(i.dropoff), i.now.ms, i.now.iso, i.requestTtlMs,
          i.safetyTimerMs, existing, active, i.region, i.vehicleClass, match.regionRescueMs, match.strategy === 'batched' ? '1' : '0',
        ],
      ]);
      const call = callOf(r.call);
      const created = r.created === 1;
      // A repeat of a request whose trigger may have been lost triggers it again (a round that
      // finds nothing to do costs one step).
      const again = created ? r.trigger === 1 : call.status === 'requested';
      const next: Effects = match.strategy === 'greedy'
        ? { match: call.status === 'requested' ? [call.id] : [] }
        : { rounds: again ? [i.region] : [] };
      return { call, created, effects: { changed: created ? [call] : [], ...next } };
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
          keys.passengerActive(passenger), keys.onlineDrivers, keys.openCalls, ...(driver ? [keys.driver(driver)] : []),
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
        keys.freeDrivers, keys.waitingCalls, keys.ledger, keys.callTimers, keys.onlineDrivers,
      ], [i.driverId, i.now.ms, i.now.iso, match.radiusM, REMATCH_PER_DRIVER, match.pickupSpeedKmh]);
      const call = callOf(r.call);
      // This driver's other offers end `busy` (and those calls are matched again) before the answer;
      // a failure there is logged, never the accept's. A retried accept redoes it, in case it died.
      const busy: Effects['endOffers'] = [{ driverId: i.driverId, callIds: list(r.others), state: 'busy', reason: 'busy', wait: true }];
      if (r.outcome !== 'won') return { outcome: 'retried', call, waves: 0, effects: { endOffers: busy } };
      const taken = list(r.taken);
      return {
        outcome: 'won',
        call,
        waves: num(r.wave),
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
        keys.call(i.callId), keys.freeDrivers, keys.waitingCalls, keys.ledger, keys.driver(i.driverId), keys.onlineDrivers, keys.openCalls,
        ...(passenger ? [keys.passengerActive(passenger)] : []),
      ], [i.driverId, i.to, i.now.ms, i.now.iso, match.radiusM, REMATCH_PER_DRIVER]);
      const call = callOf(r.call);
      // The freed driver is there for the calls waiting near it (the script found them).
      return { call, effects: { changed: [call], rematchSoon: list(r.near) } };
    },

    /** The assigned driver backs out: the call is offered again, to others. */
    async tripCancel(i: { callId: string; driverId: string; now: Now }): Promise<{ call: Call; gen: number; effects: Effects }> {
      const r = await run('tripCancel', [
        keys.call(i.callId), keys.callOffers(i.callId), keys.freeDrivers, keys.ledger, keys.callTimers, keys.driver(i.driverId), keys.onlineDrivers,
      ], [i.driverId, i.now.ms, i.now.iso]);
      const call = callOf(r.call);
      // Matched again now; the script also left a timer due now, in case this process dies first.
      return {
        call,
        gen: num(r.gen),
        effects: { changed: [call], tripEnded: [{ driverId: i.driverId, call }], rematch: [i.callId], freed: r.freed === 1 ? [i.driverId] : [] },
      };
    },

    /** A call's timer ran (`fence`: the wave it was set for): the wave is over, or the deadline has come. */
    async waveEnd(i: { callId: string; now: Now; fence: number }): Promise<WaveEndResult> {
      const region = await regionOfCall(i.callId);
      const r = await run('waveEnd', [
        keys.call(i.callId), keys.callOffers(i.callId), keys.waitingCalls, keys.ledger, keys.callTimers, keys.regionReady(region), keys.regions,
        keys.openCalls,
      ], [i.callId, i.now.ms, i.now.iso, i.fence, match.callTimeoutMs, region, match.regionRescueMs, match.strategy === 'batched' ? '1' : '0']);
      const expired = list(r.expired);
      // Drivers whose offers just ended are free: other waiting calls near them may use them.
      const ended: Effects = { revoked: [{ callId: i.callId, drivers: expired, reason: 'expired' }], freed: expired };
      switch (r.outcome) {
        case 'ready':
          return { outcome: 'ready', effects: { ...ended, rounds: match.strategy === 'batched' ? [region] : [] } };
        case 'unfulfilled': {
          const call = callOf(r.call);
          return { outcome: 'unfulfilled', call, effects: { ...ended, changed: [call], release: [{ passengerId: call.passengerId, callId: call.id }] } };
        }
        default:
          return { outcome: r.outcome === 'stale' ? 'stale' : r.outcome === 'gone' ? 'gone' : 'closed', effects: NONE };
      }
    },

    /** Match a call again soon (ready.lua): into its region's ready set, unless a wave is live. */
    async ready(i: { callId: string; now: number }): Promise<{ outcome: 'ready' | 'live' | 'closed'; effects: Effects }> {
      const region = await regionOfCall(i.callId);
      const r = await run('ready', [keys.call(i.callId), keys.callOffers(i.callId), keys.regionReady(region), keys.regions], [
        i.callId, i.now, region, match.regionRescueMs,
      ]);
      if (r.outcome !== 'ready') return { outcome: r.outcome === 'live' ? 'live' : 'closed', effects: NONE };
      return { outcome: 'ready', effects: { rounds: r.trigger === 1 && match.strategy === 'batched' ? [region] : [] } };
    },

    /** A region's round begins: its lease (a new fencing token) and its oldest ready calls. */
    async roundBegin(i: { region: string; now: number; leaseMs: number; max: number }): Promise<
      { outcome: 'begun'; token: string; callIds: string[] } | { outcome: 'busy' | 'empty' }
    > {
      const r = await run('roundBegin', [keys.regionLease(i.region), keys.regionFence(i.region), keys.regionReady(i.region), keys.regions], [
        i.now, i.leaseMs, i.max, i.region, match.regionRescueMs,
      ]);
      if (r.busy === 1) return { outcome: 'busy' };
      if (r.empty === 1) return { outcome: 'empty' };
      return { outcome: 'begun', token: str(r.token), callIds: list(r.calls) };
    },

    /**
     * What a round needs, by plain reads (no lock: the commit checks it all again): each call's
     * state and offers, the eligible free drivers nearest its pickup, and each driver's status,
     * class, idle time and live offers (its lazy index's entries checked against the calls' offers
     * hashes). A GEO search reads every member within its radius, so each call's search starts at
     * an eighth of MATCH_RADIUS_M and widens (doubling the radius, or the count when the nearest
     * are all taken or of another class) until it holds enough eligible drivers holding no offer:
     * as many as the round has calls, plus a wave.
     */
    async readRound(i: { callIds: string[]; now: number }): Promise<RoundRead> {
      const { callIds, now } = i;
      const p1 = redis.pipeline();
      for (const id of callIds) {
        p1.hmget(keys.call(id), 'json', 'wave', 'createdMs', 'region');
        p1.hgetall(keys.callOffers(id));
      }
      const r1 = await execAll(p1);
      type Read = RoundRead['calls'][number] & { pickup?: LatLng; offers: Record<string, string> };
      const calls: Read[] = callIds.map((id, n) => {
        const [json, wave, createdMs, region] = r1[2 * n] as (string | null)[];
        const offers = (r1[2 * n + 1] ?? {}) as Record<string, string>;
        const call = json ? (JSON.parse(json) as Call) : null;
        const open = call !== null && (call.status === 'requested' || call.status === 'offered');
        const liveWave = Object.values(offers).some((state) => Number(state) > now);
        return {
          id, region: region ?? '', wave: Number(wave ?? 0), createdMs: Number(createdMs ?? now),
          vehicleClass: call?.vehicleClass ?? match.defaultVehicleClass, skip: !open || liveWave, candidates: [], pickup: call?.pickup, offers,
        };
      });
      const inRound = new Map(calls.map((c) => [c.id, c.offers]));
      const indexed = new Map<string, string[]>();
      const profile = new Map<string, { status: string | null; vehicleClass: string; freeSince: number; live: number }>();
      /** Status, class, idle time and live offers of drivers not read yet. */
      const readDrivers = async (ids: string[]) => {
        if (ids.length === 0) return;
        const p = redis.pipeline();
        for (const d of ids) {
          p.hmget(keys.driver(d), 'status', 'vehicleClass', 'freeSince');
          p.hkeys(keys.driverOffers(d));
        }
        const r = await execAll(p);
        const p4 = redis.pipeline();
        const asks: string[] = [];
        ids.forEach((d, n) => {
          const [status, vehicleClass, freeSince] = r[2 * n] as (string | null)[];
          let live = 0;
          const others: string[] = [];
          for (const c of (r[2 * n + 1] ?? []) as string[]) {
            const ownOffers = inRound.get(c);
            if (ownOffers) {
              if (Number(ownOffers[d]) > now) live++;
            } else {
              others.push(c);
              p4.hget(keys.callOffers(c), d);
              asks.push(d);
            }
          }
          indexed.set(d, others);
          profile.set(d, { status: status ?? null, vehicleClass: vehicleClass ?? match.defaultVehicleClass, freeSince: Number(freeSince ?? 0), live });
        });
        const states = asks.length ? await execAll(p4) : [];
        asks.forEach((d, n) => {
          if (Number(states[n]) > now) profile.get(d)!.live++;
        });
      };
      const eligible = (c: Read, d: string) => {
        const p = profile.get(d)!;
        return p.status === 'available' && p.live < match.maxOffersPerDriver && c.offers[d] === undefined && p.vehicleClass === c.vehicleClass;
      };

      // Drivers holding no offer each call needs: a wave and two to start with; more when other calls
      // of the round want the same drivers (below), up to as many as the round has calls, plus a wave.
      const most = callIds.length + match.waveSize - 1;
      const start = Math.min(most, match.waveSize + 2);
      // One search per pickup, or one per cluster of pickups close together (a station): from its
      // centre, wider by the cluster's slack. A search cut by its count has read whole, around
      // each of its pickups, the disk up to its farthest hit less the slack. Distances are
      // computed here, as Redis computes them.
      interface Search {
        calls: Read[]; centre: LatLng; slack: number; radius: number; count: number; needed: number; hits: { d: string; pos: LatLng; fromCentre: number }[];
        /** Per call, its drivers within what was read whole, nearest first (for the current hits). */
        near: Map<Read, { d: string; dist: number }[]>;
      }
      const byCluster = new Map<string, Read[]>();
      for (const c of calls) {
        if (c.skip || !c.pickup) continue;
        // Near the poles Redis GEO clamps latitudes, which stretches a cell beyond the slack: no sharing there.
        const { key } = Math.abs(c.pickup.lat) > 85 ? { key: `own:${c.id}` } : clusterOf(c.pickup);
        byCluster.set(key, [...(byCluster.get(key) ?? []), c]);
      }
      const searches: Search[] = [...byCluster.values()].map((group) =>
        group.length >= CLUSTER_MIN
          ? {
            calls: group, centre: clusterOf(group[0]!.pickup!).centre, slack: CLUSTER_SLACK_M, radius: match.radiusM / 8,
            needed: Math.min(most, start + group.length), count: Math.min(most, start + group.length) + Math.max(...group.map((c) => Object.keys(c.offers).length)) + 16,
            hits: [], near: new Map(),
          }
          : group.map((c): Search => ({
            calls: [c], centre: c.pickup!, slack: 0, radius: match.radiusM / 8, needed: start, count: start + Object.keys(c.offers).length, hits: [], near: new Map(),
          })),
      ).flat();
      /** A call's drivers within the disk its search has read whole, nearest first. */
      const within = (s: Search, c: Read) => {
        const known = s.near.get(c);
        if (known) return known;
        const cut = s.hits.length >= s.count ? s.hits[s.hits.length - 1]!.fromCentre - s.slack : Infinity;
        const covered = Math.min(s.radius, match.radiusM, s.slack ? cut : Infinity);
        const from = { lat: geoLat(c.pickup!.lat), lng: c.pickup!.lng };
        const out: { d: string; dist: number }[] = [];
        for (const { d, pos, fromCentre } of s.hits) {
          if (fromCentre - s.slack > covered) break; // hits come nearest the centre first
          const dist = s.slack ? geoDistanceM(from, pos) : fromCentre;
          if (dist <= covered) out.push({ d, dist });
        }
        if (s.slack) out.sort((x, y) => x.dist - y.dist);
        s.near.set(c, out);
        return out;
      };
      /** A search's candidates: per call, its nearest eligible drivers until `needed` of them hold no offer. */
      const listOf = (s: Search, c: Read) => {
        const out: { d: string; dist: number }[] = [];
        let free = 0;
        for (const h of within(s, c)) {
          if (free >= s.needed) break;
          if (!eligible(c, h.d)) continue;
          if (profile.get(h.d)!.live === 0) free++;
          out.push(h);
        }
        return out;
      };
      let pending = searches;
      for (let pass = 0; pending.length > 0 && pass < 16; pass++) {
        const p2 = redis.pipeline();
        for (const s of pending) {
          const { lat, lng } = s.centre;
          p2.geosearch(keys.freeDrivers, 'FROMLONLAT', lng, geoLat(lat), 'BYRADIUS', s.radius + s.slack, 'm', 'ASC', 'COUNT', s.count, 'WITHDIST', 'WITHCOORD');
        }
        const found = (await execAll(p2)) as [string, string, [string, string]][][];
        pending.forEach((s, n) => {
          s.hits = (found[n] ?? []).map(([d, dist, [lng, lat]]) => ({ d, pos: { lat: Number(lat), lng: Number(lng) }, fromCentre: Number(dist) }));
          s.near.clear();
        });
        await readDrivers([...new Set(pending.flatMap((s) => s.hits.map((h) => h.d)))].filter((d) => !profile.has(d)));
        pending = pending.filter((s) => {
          // Enough drivers holding no offer for each call (with a cap above 1, one holding offers is a last resort).
          if (s.calls.every((c) => within(s, c).filter(({ d }) => eligible(c, d) && profile.get(d)!.live === 0).length >= s.needed)) return false;
          if (s.hits.length >= s.count) s.count *= 4; // the nearest are there but not eligible: look further
          else if (s.radius < match.radiusM) s.radius = Math.min(s.radius * 2, match.radiusM);
          else return false; // everything within the radius is read
          return true;
        });
        if (pending.length > 0) continue;
        // Contention: a search whose calls share drivers with more other calls than they have spare
        // candidates needs more (as many as the calls it competes with, plus a wave), so the
        // optimum is among them; where calls do not compete, a few each are enough.
        const wanting = new Map<string, Set<Search>>();
        for (const s of searches) for (const c of s.calls) for (const { d } of listOf(s, c)) wanting.set(d, (wanting.get(d) ?? new Set()).add(s));
        for (const s of searches) {
          const rivals = new Set<Read>();
          for (const c of s.calls) for (const { d } of listOf(s, c)) for (const o of wanting.get(d)!) for (const x of o.calls) rivals.add(x);
          const want = Math.min(most, rivals.size + match.waveSize);
          if (want > s.needed && s.hits.length > 0) {
            s.needed = want;
            s.count = Math.max(s.count, want + Math.max(...s.calls.map((c) => Object.keys(c.offers).length)));
            pending.push(s);
          }
        }
      }
      const drivers = new Map<string, { idleMs: number; capLeft: number }>();
      for (const s of searches) {
        for (const c of s.calls) {
          for (const { d, dist } of listOf(s, c)) {
            c.candidates.push({ driverId: d, distanceM: Math.round(dist) });
            const p = profile.get(d)!;
            drivers.set(d, { idleMs: Math.max(0, now - p.freeSince), capLeft: match.maxOffersPerDriver - p.live });
          }
        }
      }
      return {
        calls: calls.map(({ id, region, wave, createdMs, vehicleClass, skip, candidates }) => ({ id, region, wave, createdMs, vehicleClass, skip, candidates })),
        drivers,
        indexed,
      };
    },

    /**
     * The commit of a round (round-commit.lua): every call and driver checked again, the offers
     * that still hold written (each into its driver's index in the same step). `token` is the
     * region's lease, '' for a greedy match of one call. The offers are pushed by its effects.
     */
    async roundCommit(i: {
      region: string; token: string; plan: RoundPlan; indexed: Map<string, string[]>; now: Now; jobId?: string;
    }): Promise<RoundCommit> {
      const drivers = [...new Set(i.plan.calls.flatMap((c) => c.offers.map((o) => o.driverId)))];
      const slot = new Map(drivers.map((d, j) => [d, j]));
      const roundCalls = new Set(i.plan.calls.map((c) => c.id));
      const otherCalls = [...new Set(drivers.flatMap((d) => i.indexed.get(d) ?? []))].filter((c) => !roundCalls.has(c));
      const base = 8 + 3 * i.plan.calls.length + 2 * drivers.length;
      const others: Record<string, number> = {};
      otherCalls.forEach((c, n) => (others[c] = base + n + 1));
      const plan = {
        calls: i.plan.calls.map((c) => ({ id: c.id, wave: c.wave, skip: c.skip ? 1 : 0, offers: c.offers.map((o) => [slot.get(o.driverId)!, o.distanceM]) })),
        drivers,
        others,
      };
      const r = await run('roundCommit', [
        keys.regionReady(i.region), keys.regions, keys.regionLease(i.region), keys.regionFence(i.region), keys.callTimers, keys.waitingCalls,
        keys.ledger, keys.roundRecord(i.jobId ?? 'none'),
        ...i.plan.calls.flatMap((c) => [keys.call(c.id), keys.callOffers(c.id), keys.callSent(c.id)]),
        ...drivers.flatMap((d) => [keys.driver(d), keys.driverOffers(d)]),
        ...otherCalls.map((c) => keys.callOffers(c)),
        keys.onlineDrivers,
      ], [
        i.now.ms, i.now.iso, i.token, match.offerTimeoutMs, match.callTimeoutMs, match.maxOffersPerDriver, match.defaultVehicleClass,
        i.region, match.regionRescueMs, i.jobId ? '1' : '0', JSON.stringify(plan),
      ]);
      if (r.stale === 1) return { outcome: 'stale', offered: [], waiting: [], lost: [], again: false, effects: NONE };
      const offered = list<{ callId: string; call: string; changed: number; wave: number; offers: unknown }>(r.offered).map((o) => ({
        callId: o.callId, call: callOf(o.call), changed: o.changed === 1, wave: num(o.wave), offers: offersOf(o.offers),
      }));
      return {
        outcome: 'committed', offered, waiting: list(r.waiting), lost: list(r.lost), again: r.again === 1,
        effects: {
          offers: offered.flatMap((o) => o.offers),
          changed: offered.filter((o) => o.changed).map((o) => o.call),
          rounds: r.again === 1 ? [i.region] : [],
        },
      };
    },

    /** The calls a round job offered (its record), for a re-run of the job to push them again. */
    async roundRecord(jobId: string): Promise<string[]> {
      const json = await redis.get(keys.roundRecord(jobId));
      return json ? (JSON.parse(json) as string[]) : [];
    },

    /** Scheduled regions nobody ran, each leased to this sweeper (due-regions.lua). */
    async dueRegions(i: { now: number; leaseMs: number; max: number }): Promise<string[]> {
      const r = await run('dueRegions', [keys.regions], [i.now, i.leaseMs, i.max]);
      return list(r.due);
    },

    async driverOnline(i: { driverId: string; pos: LatLng; now: number; vehicleClass: string; profile?: DriverProfile }): Promise<{ status: 'available'; effects: Effects }> {
      const r = await run('driverOnline', [keys.driver(i.driverId), keys.freeDrivers, keys.onlineDrivers], [
        i.driverId, i.pos.lat, i.pos.lng, i.now, i.vehicleClass, i.profile ? JSON.stringify(i.profile) : '',
      ]);
      if (r.suspended && typeof r.suspended === 'object') {
        const { reason, untilMs } = r.suspended as { reason?: unknown; untilMs?: unknown };
        throw new AppError('FORBIDDEN', suspendedMessage(str(reason), str(untilMs)));
      }
      return { status: 'available', effects: { freed: [i.driverId] } };
    },

    /** An admin takes a dispatched (or arrived) call from its driver: as a back-out, recorded as a lever. */
    async redispatch(i: { callId: string; adminId: string; reason: string; now: Now }): Promise<{ call: Call; driverId: string; effects: Effects }> {
      const read = async () => {
        const json = await redis.hget(keys.call(i.callId), 'json');
        if (!json) throw refusal('redispatch', FAIL.NO_CALL);
        return (JSON.parse(json) as Call).driverId ?? '';
      };
      const r = await runFresh('redispatch', read, (driver) => [
        [keys.call(i.callId), keys.callOffers(i.callId), keys.freeDrivers, keys.ledger, keys.callTimers, keys.driver(driver), keys.onlineDrivers],
        [driver, i.now.ms, i.now.iso, i.adminId, i.reason],
      ]);
      const call = callOf(r.call);
      const driverId = str(r.driverId);
      return {
        call,
        driverId,
        effects: { changed: [call], tripEnded: [{ driverId, call }], rematch: [i.callId], freed: r.freed === 1 ? [driverId] : [] },
      };
    },

    /** An admin suspends a driver (`untilMs` undefined: until lifted); its live offers end `cancelled` and those calls are matched again. */
    async driverSuspend(i: { driverId: string; adminId: string; reason: string; untilMs?: number; now: Now }): Promise<{ onTrip: boolean; effects: Effects }> {
      const untilIso = i.untilMs === undefined ? '' : new Date(i.untilMs).toISOString();
      const r = await run('driverSuspend', [keys.driver(i.driverId), keys.freeDrivers, keys.driverOffers(i.driverId), keys.ledger, keys.onlineDrivers], [
        i.driverId, i.now.ms, i.now.iso, i.untilMs ?? '', untilIso, i.reason, i.adminId,
      ]);
      return {
        onTrip: r.onTrip === 1,
        effects: {
          suspended: [{ driverId: i.driverId, push: { reason: i.reason, until: untilIso || null } }],
          endOffers: [{ driverId: i.driverId, callIds: list(r.held), state: 'revoked', reason: 'cancelled', wait: true }],
        },
      };
    },

    /** An admin lifts a driver's suspension. */
    async driverLift(i: { driverId: string; adminId: string; reason: string; now: Now }): Promise<{ was: boolean; effects: Effects }> {
      const r = await run('driverLift', [keys.driver(i.driverId), keys.ledger, keys.onlineDrivers], [i.driverId, i.now.ms, i.now.iso, i.reason, i.adminId]);
      return { was: r.was === 1, effects: { lifted: [i.driverId] } };
    },

    /** The driver asks to go offline (`awaySince` undefined), or its grace timer ran out (fenced by it). */
    async driverOffline(i: { driverId: string; now: number; awaySince?: string }): Promise<GraceResult> {
      const r = await run('driverOffline', [keys.driver(i.driverId), keys.freeDrivers, keys.driverOffers(i.driverId), keys.onlineDrivers], [
        i.driverId, i.now, i.awaySince ?? '',
      ]);
      if (r.outcome !== 'offline') return { outcome: r.outcome === 'after-trip' ? 'after-trip' : 'came-back', effects: NONE };
      // Its live offers end (`expired` to it) and those calls are matched again, before the answer.
      return { outcome: 'offline', effects: { endOffers: [{ driverId: i.driverId, callIds: list(r.held), state: 'revoked', reason: 'expired', wait: true }] } };
    },

    /** A position report; while on a trip its rider is told, at most once per `pushEveryMs`. */
    /**
     * A position; during a trip the rider is told (throttled) and, in the same step, a point of the
     * trip's track is appended to the ledger stream (kind=track) at most once per `track.sampleMs`,
     * up to `track.maxPoints` per trip (sampleMs 0: none).
     */
    async driverLocation(i: { driverId: string; pos: LatLng; now: number; pushEveryMs: number; track?: { sampleMs: number; maxPoints: number } }): Promise<{ effects: Effects }> {
      const track = i.track ?? { sampleMs: 0, maxPoints: 0 };
      const r = await run('driverLocation', [keys.driver(i.driverId), keys.freeDrivers, keys.onlineDrivers, keys.ledger], [
        i.driverId, i.pos.lat, i.pos.lng, i.now, i.pushEveryMs, new Date(i.now).toISOString(), track.sampleMs, track.maxPoints,
      ]);
      if (r.tell !== 1 || !r.passengerId) return { effects: NONE };
      const callId = str(r.callId);
      return {
        effects: {
          location: [{ passengerId: str(r.passengerId), push: { callId, lat: i.pos.lat, lng: i.pos.lng, at: new Date(i.now).toISOString() } }],
        },
      };
    },

    /**
     * What a (re)connecting driver is told: its suspension while one counts, its current trip and its live offers. Plain reads, no
     * script (nothing to decide atomically): the driver's hash and offer index, then the trip and
     * each indexed offer's state; entries of offers no longer live are dropped from the index.
     */
    async driverResync(i: { driverId: string; now: number }): Promise<{ trip: Call | null; offers: Offer[]; suspended: DriverSuspendedPush | null }> {
      const [[callId, suspendedFlag, untilMs, reason], index] = await Promise.all([
        redis.hmget(keys.driver(i.driverId), 'callId', 'suspended', 'suspendedUntil', 'suspendReason'), redis.hgetall(keys.driverOffers(i.driverId)),
      ]);
      // The suspension as lib/admin.lua's `suspension` counts it: set, and not past its time.
      const counts = suspendedFlag === '1' && (!untilMs || Number(untilMs) > i.now);
      const suspended = counts ? { reason: reason ?? '', until: untilMs ? new Date(Number(untilMs)).toISOString() : null } : null;
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
      return { trip: trip ? (JSON.parse(trip) as Call) : null, offers: live, suspended };
    },

    /** Follow-up: end this driver's offers for these calls, where still live (one step); the calls where they were. */
    async endDriverOffers(i: { driverId: string; callIds: string[]; state: 'busy' | 'revoked'; now: number }): Promise<string[]> {
      if (i.callIds.length === 0) return [];
      const r = await run('endDriverOffers', [keys.driverOffers(i.driverId), ...i.callIds.map((c) => keys.callOffers(c))], [
        i.driverId, i.state, i.now, ...i.callIds,
      ]);
      return list(r.ended);
    },

    /** Follow-up: a passenger whose call ended may call again (only while the pointer names that call). */
    async releasePassenger(i: { passengerId: string; callId: string }): Promise<void> {
      await run('releasePassenger', [keys.passengerActive(i.passengerId)], [i.callId]);
    },

    /** A driver connected: a grace period running from an earlier disconnect is over (its score in the online index moves, when it is in it). */
    async driverConnected(i: { driverId: string; now: number }): Promise<void> {
      const key = keys.driver(i.driverId);
      await execAll(redis.multi().hincrby(key, 'connects', 1).hset(key, 'awaySince', '', 'offlineAfterTrip', '').zadd(keys.onlineDrivers, 'XX', i.now, i.driverId));
    },

    /** The driver's last socket closed: the `awaySince` its grace runs from, or '' if it came back. */
    async driverAway(i: { driverId: string; connects: string; now: number }): Promise<string> {
      const r = await run('driverAway', [keys.driver(i.driverId), keys.onlineDrivers], [i.connects, i.now, i.driverId]);
      return str(r.awaySince);
    },

    /** The open calls waiting near these drivers (who just became free). */
    async waitingNear(driverIds: string[]): Promise<string[]> {
      if (driverIds.length === 0) return [];
      const r = await run('waitingNear', [keys.freeDrivers, keys.waitingCalls], [match.radiusM, REMATCH_PER_DRIVER, ...driverIds]);
      return list(r.calls);
    },

    /** Ended calls due for retention: their end is older than `before` (epoch ms), oldest first. */
    async endedBefore(i: { before: number; max: number }): Promise<string[]> {
      return redis.zrangebyscore(keys.endedCalls, '-inf', i.before, 'LIMIT', 0, i.max);
    },

    /** Retention: remove an ended call's live keys (retire.lua); reads its passenger, requestId and offered drivers first. */
    async retire(i: { callId: string; now: number; retentionMs: number }): Promise<'removed' | 'gone' | 'open' | 'later'> {
      for (let attempt = 0; attempt < RETRIES; attempt++) {
        const [[, fields], [, drivers]] = (await redis.multi().hmget(keys.call(i.callId), 'passengerId', 'requestId').hkeys(keys.callOffers(i.callId)).exec()) as [
          [unknown, (string | null)[]], [unknown, string[]],
        ];
        const [passengerId, requestId] = fields;
        const r = await run('retire', [
          keys.call(i.callId), keys.callOffers(i.callId), keys.callSent(i.callId), keys.allCalls, keys.passengerCalls(passengerId ?? ''),
          keys.passengerActive(passengerId ?? ''), keys.request(passengerId ?? '', requestId ?? ''), keys.endedCalls,
          ...drivers.map((d) => keys.driverOffers(d)),
        ], [i.callId, i.now, i.retentionMs, ...drivers]);
        const outcome = str(r.outcome);
        if (outcome !== 'retry') return outcome as 'removed' | 'gone' | 'open' | 'later';
      }
      throw new AppError('UNAVAILABLE', 'the call kept changing under its retention');
    },

    /** The ledger stream's backlog: entries not yet written, their memory, the age of the oldest (s). */
    async ledgerBacklog(now: number): Promise<{ entries: number; bytes: number; oldestSeconds: number }> {
      const [[, entries], [, bytes], [, first]] = (await redis.multi()
        .xlen(keys.ledger).call('MEMORY', 'USAGE', keys.ledger).xrange(keys.ledger, '-', '+', 'COUNT', 1).exec()) as [
        [unknown, number], [unknown, number | null], [unknown, [string, string[]][]],
      ];
      const oldest = first[0] ? Number(first[0][0].split('-')[0]) : now;
      return { entries, bytes: bytes ?? 0, oldestSeconds: Math.max(0, (now - oldest) / 1000) };
    },

    /**
     * Online drivers, the most recently updated first, at most `max`: the online drivers index, then
     * one pipelined read of their hashes (never a SCAN). A driver whose hash says offline (a step
     * raced this read) is left out.
     */
    async onlineDrivers(i: { max: number }): Promise<OnlineDriver[]> {
      if (i.max <= 0) return [];
      return readDrivers(await redis.zrevrange(keys.onlineDrivers, 0, i.max - 1, 'WITHSCORES'));
    },

    /**
     * Online drivers updated after `sinceMs` (their score in the online drivers index), the oldest
     * first, at most `max`: one ZRANGEBYSCORE, then one pipelined read of their hashes (the feed).
     */
    async driversChangedSince(i: { sinceMs: number; max: number; skip?: (driverId: string, changedAt: number) => boolean }): Promise<OnlineDriver[]> {
      if (i.max <= 0) return [];
      const flat = await redis.zrangebyscore(keys.onlineDrivers, `(${i.sinceMs}`, '+inf', 'WITHSCORES', 'LIMIT', 0, i.max);
      const skip = i.skip;
      if (!skip) return readDrivers(flat);
      // The ids and scores are cheap; only the drivers not skipped have their hashes read.
      const kept: string[] = [];
      for (let j = 0; j + 1 < flat.length; j += 2) if (!skip(flat[j]!, Number(flat[j + 1]))) kept.push(flat[j]!, flat[j + 1]!);
      return readDrivers(kept);
    },

    /** These drivers as the online drivers index holds them (one ZMSCORE, then their hashes): those not in it are left out. */
    async onlineDriversById(ids: string[]): Promise<OnlineDriver[]> {
      if (ids.length === 0) return [];
      const scores = await redis.zmscore(keys.onlineDrivers, ...ids);
      return readDrivers(ids.flatMap((id, j) => (scores[j] === null ? [] : [id, String(scores[j])])));
    },

    /** Which of these drivers the online drivers index holds (one ZMSCORE). */
    async inOnlineIndex(ids: string[]): Promise<boolean[]> {
      if (ids.length === 0) return [];
      return (await redis.zmscore(keys.onlineDrivers, ...ids)).map((s) => s !== null);
    },

    /** The ids in the online drivers index, at most `max` (the most recently updated). */
    async onlineDriverIds(i: { max: number }): Promise<string[]> {
      if (i.max <= 0) return [];
      return redis.zrevrange(keys.onlineDrivers, 0, i.max - 1);
    },

    /** Open calls, the oldest first, at most `max`: the open calls index, then one pipelined read of their JSON. */
    async openCalls(i: { max: number }): Promise<Call[]> {
      if (i.max <= 0) return [];
      const ids = await redis.zrange(keys.openCalls, 0, i.max - 1);
      if (ids.length === 0) return [];
      const p = redis.pipeline();
      for (const id of ids) p.hget(keys.call(id), 'json');
      return ((await execAll(p)) as (string | null)[]).filter((j): j is string => typeof j === 'string').map((j) => JSON.parse(j) as Call);
    },

    /**
     * The ops console's counts: ZCARD of both indexes, and the status of at most `max` members of
     * each by a pipelined HMGET (`counted` says how many were read: below the ZCARD, the split is of
     * the most recent drivers and the oldest calls only).
     */
    async indexCounts(i: { max: number }): Promise<IndexCounts> {
      const [online, open, driverIds, callIds] = (await execAll(redis.pipeline()
        .zcard(keys.onlineDrivers).zcard(keys.openCalls)
        .zrevrange(keys.onlineDrivers, 0, i.max - 1).zrange(keys.openCalls, 0, i.max - 1))) as [number, number, string[], string[]];
      const p = redis.pipeline();
      for (const d of driverIds) p.hmget(keys.driver(d), 'status', 'awaySince');
      for (const c of callIds) p.hget(keys.call(c), 'status');
      const rows = driverIds.length + callIds.length > 0 ? await execAll(p) : [];
      const drivers = { online, available: 0, busy: 0, away: 0, counted: driverIds.length };
      for (const [status, awaySince] of rows.slice(0, driverIds.length) as (string | null)[][]) {
        if (status === 'available') drivers.available++;
        else if (status === 'busy') drivers.busy++;
        if (awaySince) drivers.away++;
      }
      const byStatus: Record<string, number> = {};
      for (const status of rows.slice(driverIds.length) as (string | null)[]) if (status) byStatus[status] = (byStatus[status] ?? 0) + 1;
      return { drivers, calls: { open, byStatus, counted: callIds.length } };
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
