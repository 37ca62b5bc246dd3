/**
 * Property-style test: seeded random sequences of actions by 6 riders and 8 drivers, spread over two
 * gateways around one small area (so they compete for the same calls), against one dispatcher with
 * short timers. Some steps are bursts (2–3 actors at the same instant); some let time pass until a
 * timer must have fired (an offer's expiry, a driver's grace, a call's timeout).
 *
 * After every step: the contract's invariants are checked on one atomic read of Redis (one trip per
 * driver, busy ⇔ assigned, free set = available drivers, live offers only to available drivers for
 * open calls (once the follow-ups of the step have run), one live call per passenger, history only along TRANSITIONS, a driver who was never away
 * for DRIVER_GRACE_MS is not offline), every ack has a contract code (and, when the state before
 * decides it, the right one), every push received so far is checked (each seq is one version of the
 * call everywhere; riders' call:status, stale ones dropped, move along TRANSITIONS), and a call waiting
 * for a driver reaches a free one. At the end, once every call is quiet: each rider got every change of
 * its calls, and the SQLite ledger holds exactly Redis's history; then an ordinary ride still works.
 *
 * A failure names its seed and step and prints the history of the actors involved. Replay with
 *   PROPERTY_SEED=<seed> [PROPERTY_STEPS=<n>] npx mocha test/property.test.ts
 * The seed fixes every random choice, but choices depend on what the servers did meanwhile (offers,
 * timers), so a replay follows the same path only as far as the timing does.
 * PROPERTY_EXTRA_SOCKETS=0 leaves out drivers opening and closing a second socket (see EXTRA_SOCKETS).
 */
import { expect } from 'chai';
import {
  canTransition, ErrorCode, isTerminal, TRIP_STATUSES,
  type Call, type CallStatus, type Offer, type OfferRevoked, type Response,
} from '../protocol/index.js';
import { waitingCallId } from '../server/redis/keys.js';
import { connect, DROPOFF, PICKUP, type TestClient, type Seen } from './support/clients.js';
import { ledgerMismatch, readLedger } from './support/ledger.js';
import { startStack, type Stack } from './support/stack.js';
import { until } from './support/wait.js';
import { mulberry32 } from './support/prng.js';

const ENV = { OFFER_TIMEOUT_MS: 400, CALL_TIMEOUT_MS: 3000, DRIVER_GRACE_MS: 1000, OFFER_WAVE_SIZE: 2, MATCH_RADIUS_M: 3000 };
const SEEDS = process.env.PROPERTY_SEED ? [Number(process.env.PROPERTY_SEED)] : [1, 2, 3];
const STEPS = Number(process.env.PROPERTY_STEPS ?? 150);
const RIDERS = 6;
const DRIVERS = 8;
/**
 * Also let a driver open a second socket and close it again, keeping its first one (another device,
 * or a reconnect it gave up on): when the first one closes later, the grace period must still start.
 */
const EXTRA_SOCKETS = process.env.PROPERTY_EXTRA_SOCKETS !== '0';
type ReconnectHow = 'drop' | 'overlap' | 'after-away' | 'quick-drop' | 'handover';
/** Probability that a step is a burst: 2–3 actors act at the same instant (on both gateways). */
const BURST = 0.15;

const CONTRACT_CODES: readonly string[] = Object.keys(ErrorCode);
/** Codes no action here may get: payloads are valid and small, tokens good, and no dependency fails. */
const NEVER: readonly string[] = ['VALIDATION_FAILED', 'UNAUTHORIZED', 'PAYLOAD_TOO_LARGE', 'UNAVAILABLE', 'INTERNAL'];
const OPEN: readonly CallStatus[] = ['requested', 'offered'];
type TripEvent = 'trip:arrived' | 'trip:start' | 'trip:complete' | 'trip:cancel';
const TRIP_EVENTS: readonly TripEvent[] = ['trip:arrived', 'trip:start', 'trip:complete', 'trip:cancel'];
/** The trip step each status moves on with, and where it leads. */
const NEXT_STEP: Partial<Record<CallStatus, [TripEvent, CallStatus]>> = {
  dispatched: ['trip:arrived', 'arrived'],
  arrived: ['trip:start', 'in_progress'],
  in_progress: ['trip:complete', 'completed'],
};
const STEP_TARGET: Record<Exclude<TripEvent, 'trip:cancel'>, CallStatus> = {
  'trip:arrived': 'arrived', 'trip:start': 'in_progress', 'trip:complete': 'completed',
};


class Rng {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from nothing');
    return xs[this.int(xs.length)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  weighted<T>(options: readonly [number, T][]): T {
    const live = options.filter(([w]) => w > 0);
    let r = this.next() * live.reduce((s, [w]) => s + w, 0);
    for (const [w, v] of live) {
      r -= w;
      if (r < 0) return v;
    }
    return (live[live.length - 1] as [number, T])[1];
  }
  /** A point within ~700 m of PICKUP: any two are under 2 km apart, inside MATCH_RADIUS_M. */
  near(): { lat: number; lng: number } {
    return { lat: PICKUP.lat + (this.next() - 0.5) * 0.012, lng: PICKUP.lng + (this.next() - 0.5) * 0.016 };
  }
}

interface Rider {
  id: string;
  client: TestClient;
  requests: number;
  lastRequest?: { requestId: string; callId: string };
  /** How many of client.seen were checked. */
  checked: number;
}

interface Driver {
  id: string;
  client: TestClient | null;
  /** Events of earlier (closed) sockets of this driver. */
  past: Seen[];
  checked: number;
  /** When its last socket was closed (client-side clock, same as the servers'). */
  closedAt: number;
  /** It went online (ok) and has not gone offline (ok) since. */
  intentOnline: boolean;
  /** Since going online, never away for DRIVER_GRACE_MS or longer: the server must not have taken it offline. */
  covered: boolean;
}

interface Snapshot {
  /** Date.now() after the snapshot was read (later than the clock of every script it reflects). */
  at: number;
  calls: Map<string, Call>;
  offers: Map<string, Record<string, string>>;
  drivers: Map<string, Record<string, string>>;
  free: Set<string>;
  waiting: Set<string>;
}

interface Plan {
  label: string;
  run: () => Promise<void>;
}

const isLiveState = (state: string | undefined, now: number) => state !== undefined && /^\d+$/.test(state) && Number(state) > now;
const isNumericState = (state: string | null | undefined) => state != null && /^\d+$/.test(state);
const brief = (c: Call) => `${c.id.slice(0, 8)}#${c.seq}:${c.status}${c.driverId ? `@${c.driverId}` : ''}`;

class World {
  readonly rng: Rng;
  readonly riders: Rider[] = [];
  readonly drivers: Driver[] = [];
  readonly log: string[] = [];
  readonly codes = new Map<string, number>();
  step = 0;
  /** Every version of every call seen anywhere (acks, pushes, Redis): callId → seq → Call. */
  private readonly versions = new Map<string, Map<number, Call>>();
  /** The last version each rider kept of each call (stale or duplicate pushes dropped, as clients do). */
  private readonly kept = new Map<string, { seq: number; status: CallStatus }>();
  /** Every seq of each call its rider was pushed (in any order, duplicates and stale ones included). */
  private readonly pushed = new Map<string, Set<number>>();
  /** The last version of each call read from Redis. */
  private readonly redisLast = new Map<string, { seq: number; status: CallStatus }>();
  /** callId#seq → the driver whose accept got ok with that version. */
  private readonly winners = new Map<string, string>();
  private readonly stats = { accepts: 0, completed: 0, backOuts: 0, reconnects: 0, graces: 0 };
  private snap!: Snapshot;
  private readonly extraDrivers: string[] = [];

  constructor(readonly seed: number, readonly stack: Stack) {
    this.rng = new Rng(seed);
  }

  private gw(n: number): string {
    return (this.stack.gateways[n] as { url: string }).url;
  }

  private get driverIds(): string[] {
    return [...this.drivers.map((d) => d.id), ...this.extraDrivers];
  }

  private events(d: Driver): Seen[] {
    return [...d.past, ...(d.client?.seen ?? [])];
  }

  async start(): Promise<void> {
    for (let i = 0; i < RIDERS; i++) {
      this.riders.push({ id: `r${i}`, client: await connect(this.gw(i % 2), `r${i}`, 'passenger'), requests: 0, checked: 0 });
    }
    for (let i = 0; i < DRIVERS; i++) {
      const id = `d${i}`;
      this.drivers.push({
        id, client: await connect(this.gw(this.rng.int(2)), id, 'driver'), past: [], checked: 0, closedAt: 0, intentOnline: false, covered: false,
      });
    }
    await this.observe();
  }

  close(): void {
    for (const r of this.riders) r.client.close();
    for (const d of this.drivers) d.client?.close();
  }

  // ---------------------------------------------------------------- acks

  private count(key: string): void {
    this.codes.set(key, (this.codes.get(key) ?? 0) + 1);
  }

  /** Emit, record, and check the ack's shape: ok, or an error with one of the contract's codes. */
  private async act<T>(client: TestClient, label: string, event: string, payload: unknown): Promise<Response<T>> {
    const line = this.log.push(`${this.step}: ${label}`) - 1;
    const res = await client.emit<T>(event, payload);
    expect(res, `${label}: ack`).to.be.an('object');
    expect(res.ok, `${label}: ack.ok`).to.be.a('boolean');
    if (res.ok) {
      this.count('ok');
      this.log[line] += ' → ok';
      if (isCall(res.data)) {
        this.version(res.data, `ack of ${label}`);
        this.log[line] += ` ${brief(res.data)}`;
      }
    } else {
      const { code, message } = res.error;
      this.count(code);
      this.log[line] += ` → ${code}`;
      expect(CONTRACT_CODES, `${label}: error code ${code} (${message})`).to.include(code);
      expect(NEVER, `${label}: error code ${code} (${message})`).not.to.include(code);
      expect(message, `${label}: error message`).to.be.a('string');
      if (code === 'ALREADY_DISPATCHED') expect(message).to.contain('배차완료된 콜입니다');
    }
    return res;
  }

  private expectOutcome(res: Response<unknown>, want: 'ok' | 'error' | string[], label: string): void {
    const got = res.ok ? 'ok' : res.error.code;
    if (want === 'ok') expect(got, `${label} must succeed`).to.equal('ok');
    else if (want === 'error') expect(got, `${label} must fail`).not.to.equal('ok');
    else expect(want, `${label} must fail with one of ${want.join('|')}`).to.include(got);
  }

  /** One seq of a call is one version: wherever it is seen, it is the same Call. */
  private version(call: Call, source: string): void {
    let bySeq = this.versions.get(call.id);
    if (!bySeq) this.versions.set(call.id, (bySeq = new Map<number, Call>()));
    const known = bySeq.get(call.seq);
    if (known) expect(call, `call ${call.id} seq ${call.seq} from ${source} differs from an earlier copy`).to.deep.equal(known);
    else bySeq.set(call.seq, call);
  }

  // ---------------------------------------------------------------- state and invariants

  /** Read the whole state in one MULTI, so no script runs in the middle of it. */
  private async snapshot(): Promise<Snapshot> {
    const { redis, keys } = this.stack;
    for (let attempt = 0; ; attempt++) {
      const ids = await redis.zrange(keys.allCalls, 0, -1);
      const m = redis.multi().zrange(keys.allCalls, 0, -1).zrange(keys.freeDrivers, 0, -1).zrange(keys.waitingCalls, 0, -1);
      for (const id of ids) m.hget(keys.call(id), 'json').hgetall(keys.callOffers(id));
      const driverIds = this.driverIds;
      for (const d of driverIds) m.hgetall(keys.driver(d));
      const res = await m.exec();
      const at = Date.now();
      if (!res) throw new Error('snapshot MULTI aborted');
      const vals = res.map(([err, v]) => {
        if (err) throw err;
        return v;
      });
      const idsNow = vals[0] as string[];
      if (JSON.stringify([...idsNow].sort()) !== JSON.stringify([...ids].sort())) {
        if (attempt > 50) throw new Error('calls keep appearing while reading a snapshot');
        continue; // a call was created in between: read again
      }
      const snap: Snapshot = {
        at, calls: new Map(), offers: new Map(), drivers: new Map(),
        free: new Set(vals[1] as string[]), waiting: new Set((vals[2] as string[]).map(waitingCallId)),
      };
      let k = 3;
      for (const id of ids) {
        const json = vals[k++] as string | null;
        expect(json, `call ${id} is listed but has no json`).to.be.a('string');
        snap.calls.set(id, JSON.parse(json as string) as Call);
        snap.offers.set(id, vals[k++] as Record<string, string>);
      }
      for (const d of driverIds) snap.drivers.set(d, vals[k++] as Record<string, string>);
      return snap;
    }
  }

  /** Take a snapshot, check every invariant on it, and check every event received before it. */
  async observe(): Promise<Snapshot> {
    // Events counted before the snapshot were pushed after the scripts that caused them: the snapshot reflects them.
    const riderUpTo = this.riders.map((r) => r.client.seen.length);
    const driverUpTo = this.drivers.map((d) => this.events(d).length);
    // A driver who just won a call, or went offline, may hold a live offer for a moment: its offers
    // end in a follow-up step (server/redis/commands.ts), and until then its accept answers
    // DRIVER_BUSY or INVALID_STATE. Read again until those follow-ups have run (bounded).
    let snap = await this.snapshot();
    for (const deadline = Date.now() + 2000; this.strayOffers(snap).length > 0 && Date.now() < deadline;) snap = await this.snapshot();
    this.checkState(snap);
    this.riders.forEach((r, i) => this.checkRiderEvents(r, riderUpTo[i] as number));
    this.drivers.forEach((d, i) => this.checkDriverEvents(d, driverUpTo[i] as number, snap));
    this.snap = snap;
    return snap;
  }

  /** Live offers held by a driver who is not available (`call:driver`). */
  private strayOffers(s: Snapshot): string[] {
    const out: string[] = [];
    for (const [id, offers] of s.offers) {
      for (const [d, state] of Object.entries(offers)) if (isLiveState(state, s.at) && s.drivers.get(d)?.status !== 'available') out.push(`${id}:${d}`);
    }
    return out;
  }

  private checkState(s: Snapshot): void {
    const tripsOf = new Map<string, string[]>();
    const liveOf = new Map<string, number>();
    const openOf = new Map<string, string[]>();
    for (const [id, c] of s.calls) {
      this.version(c, 'Redis');
      // Redis's own history of the call only moves forward, along TRANSITIONS.
      const prev = this.redisLast.get(id);
      if (prev) {
        expect(c.seq, `call ${id}: seq went back in Redis`).to.be.at.least(prev.seq);
        if (c.seq === prev.seq + 1) expect(canTransition(prev.status, c.status), `call ${id}: ${prev.status} → ${c.status} in Redis`).to.equal(true);
      } else if (c.seq === 1) {
        expect(c.status, `call ${id} seq 1`).to.equal('requested');
      }
      this.redisLast.set(id, { seq: c.seq, status: c.status });

      if (OPEN.includes(c.status) || c.status === 'unfulfilled') expect(c.driverId, `${brief(c)} has a driver`).to.equal(null);
      if (TRIP_STATUSES.includes(c.status) || c.status === 'completed') expect(c.driverId, `${brief(c)} has no driver`).to.be.a('string');
      if (TRIP_STATUSES.includes(c.status)) {
        const d = c.driverId as string;
        tripsOf.set(d, [...(tripsOf.get(d) ?? []), id]);
        const h = s.drivers.get(d) ?? {};
        expect({ status: h.status, callId: h.callId }, `driver ${d} of ${brief(c)}`).to.deep.equal({ status: 'busy', callId: id });
      }
      if (!isTerminal(c.status)) openOf.set(c.passengerId, [...(openOf.get(c.passengerId) ?? []), id]);
      // A live offer: to an available driver, for an open call.
      for (const [d, state] of Object.entries(s.offers.get(id) ?? {})) {
        if (!isLiveState(state, s.at)) continue;
        liveOf.set(id, (liveOf.get(id) ?? 0) + 1);
        expect(OPEN, `${brief(c)} has a live offer to ${d}`).to.include(c.status);
        expect(s.drivers.get(d)?.status, `driver ${d} holds a live offer of ${brief(c)}`).to.equal('available');
      }
    }
    // No driver is the driver of two trips.
    for (const [d, ids] of tripsOf) expect(ids, `driver ${d} holds two trips`).to.have.length(1);
    // A passenger has at most one non-terminal call.
    for (const [p, ids] of openOf) expect(ids, `passenger ${p} has several non-terminal calls`).to.have.length(1);
    // Waiting calls are open and have no live wave.
    for (const id of s.waiting) {
      const c = s.calls.get(id);
      expect(c && OPEN.includes(c.status), `waiting call ${id} is ${c?.status}`).to.equal(true);
      expect(liveOf.get(id) ?? 0, `waiting call ${id} has live offers`).to.equal(0);
    }
    for (const [d, h] of s.drivers) {
      // A busy driver's callId is a trip whose driver it is.
      if (h.status === 'busy') {
        const c = h.callId ? s.calls.get(h.callId) : undefined;
        expect(c?.driverId, `busy driver ${d} with callId ${h.callId}: driver of that call`).to.equal(d);
        expect(TRIP_STATUSES, `busy driver ${d}: status of its call ${h.callId}`).to.include(c?.status);
      }
      // The free set holds exactly the available drivers: never a busy or offline one.
      expect(s.free.has(d), `driver ${d} is ${h.status} and ${s.free.has(d) ? '' : 'not '}in the free set`).to.equal(h.status === 'available');
    }
    for (const d of s.free) expect(s.drivers.has(d), `unknown driver ${d} in the free set`).to.equal(true);
    // A driver who went online and was never away for DRIVER_GRACE_MS since is not offline.
    for (const d of this.drivers) {
      const covered = d.covered && (d.client !== null || s.at - d.closedAt < ENV.DRIVER_GRACE_MS);
      if (d.intentOnline && covered) {
        const h = s.drivers.get(d.id) ?? {};
        expect(h.status, `driver ${d.id} went online, was never away for DRIVER_GRACE_MS since, yet is offline (driver hash ${JSON.stringify(h)}, read at ${s.at})`).not.to.equal('offline');
      }
    }
  }

  private checkRiderEvents(r: Rider, upTo: number): void {
    for (; r.checked < upTo; r.checked++) {
      const e = r.client.seen[r.checked] as Seen;
      if (e.event !== 'call:status') continue;
      const c = e.data as Call;
      expect(c.passengerId, `${r.id} got call:status of someone else's call`).to.equal(r.id);
      this.version(c, `call:status to ${r.id}`);
      let got = this.pushed.get(c.id);
      if (!got) this.pushed.set(c.id, (got = new Set()));
      got.add(c.seq);
      const last = this.kept.get(c.id);
      if (last && c.seq <= last.seq) continue; // stale or duplicate: dropped, as the contract says clients do
      if (!last && c.seq === 1) expect(c.status, `${r.id}: first version of ${c.id}`).to.equal('requested');
      if (last && c.seq === last.seq + 1) {
        expect(canTransition(last.status, c.status), `${r.id} was told ${c.id}: ${last.status} (seq ${last.seq}) → ${c.status} (seq ${c.seq})`).to.equal(true);
      }
      this.kept.set(c.id, { seq: c.seq, status: c.status });
    }
  }

  private checkDriverEvents(d: Driver, upTo: number, s: Snapshot): void {
    const evs = this.events(d);
    for (; d.checked < upTo; d.checked++) {
      const e = evs[d.checked] as Seen;
      if (e.event === 'trip:status') {
        const c = e.data as Call;
        this.version(c, `trip:status to ${d.id}`);
        // Its own trip, or the trip it just backed out of (back to offered, no driver).
        expect(c.driverId === d.id || (c.driverId === null && c.status === 'offered'), `${d.id} got trip:status ${brief(c)}`).to.equal(true);
      } else if (e.event === 'offer') {
        const o = e.data as Offer;
        expect(s.offers.get(o.callId)?.[d.id], `${d.id} got an offer of ${o.callId} Redis never made`).to.be.a('string');
      } else if (e.event === 'offer:revoked') {
        const r = e.data as OfferRevoked;
        expect(['taken', 'cancelled', 'expired', 'busy'], `${d.id}: revoke reason`).to.include(r.reason);
        const state = s.offers.get(r.callId)?.[d.id];
        expect(state, `${d.id} got offer:revoked of ${r.callId} it was never offered`).to.be.a('string');
        expect(isNumericState(state), `${d.id} got offer:revoked (${r.reason}) of ${r.callId}, but Redis still has it open (${state})`).to.equal(false);
      }
    }
  }

  // ---------------------------------------------------------------- what actors know

  private lastCallOf(r: Rider): Call | undefined {
    return r.lastRequest ? this.snap.calls.get(r.lastRequest.callId) : undefined;
  }

  private activeCallOf(r: Rider): Call | undefined {
    return [...this.snap.calls.values()].find((c) => c.passengerId === r.id && !isTerminal(c.status));
  }

  private tripOf(d: Driver): Call | undefined {
    const h = this.snap.drivers.get(d.id);
    return h?.status === 'busy' && h.callId ? this.snap.calls.get(h.callId) : undefined;
  }

  /** Offers this driver received, split into live (per Redis, at the snapshot) and the rest. */
  private offersOf(d: Driver): { live: string[]; stale: string[] } {
    const ids = [...new Set(this.events(d).filter((e) => e.event === 'offer').map((e) => (e.data as Offer).callId))];
    const live = ids.filter((id) => isLiveState(this.snap.offers.get(id)?.[d.id], this.snap.at + 50));
    return { live, stale: ids.filter((id) => !live.includes(id)) };
  }

  private knownCalls(): string[] {
    return [...this.snap.calls.keys()];
  }

  // ---------------------------------------------------------------- actions

  private planRider(r: Rider, solo: boolean): Plan {
    const active = this.activeCallOf(r);
    const last = this.lastCallOf(r);
    const others = this.knownCalls().filter((id) => this.snap.calls.get(id)?.passengerId !== r.id);
    const options: [number, Plan][] = [
      [active ? 1 : 8, { label: `${r.id} request`, run: () => this.request(r, active, solo) }],
    ];
    if (r.lastRequest) options.push([1, { label: `${r.id} repeat request`, run: () => this.repeatRequest(r) }]);
    if (last) {
      options.push([active ? 1.2 : 0.5, { label: `${r.id} cancel`, run: () => this.cancel(r, last.id, solo) }]);
      options.push([0.6, { label: `${r.id} get its call`, run: () => this.get(r, last.id) }]);
    }
    if (others.length) {
      const id = this.rng.pick(others);
      options.push([0.4, { label: `${r.id} cancel other's call`, run: () => this.cancel(r, id, solo) }]);
      options.push([0.3, { label: `${r.id} get other's call`, run: () => this.get(r, id) }]);
    }
    options.push([0.5, { label: `${r.id} active calls`, run: () => this.active(r) }]);
    return this.rng.weighted(options);
  }

  private planDriver(d: Driver, solo: boolean): Plan {
    if (!d.client) {
      const gw = this.rng.int(2);
      const options: [number, Plan][] = [[4, { label: `${d.id} comes back on gw${gw}`, run: () => this.reconnect(d, gw, 'after-away') }]];
      if (solo) options.push([2, { label: `${d.id} stays away until its grace is over`, run: () => this.waitGrace(d) }]);
      return this.rng.weighted(options);
    }
    const client = d.client;
    const h = this.snap.drivers.get(d.id) ?? {};
    const trip = this.tripOf(d);
    const { live, stale } = this.offersOf(d);
    const known = this.knownCalls();
    const pos = this.rng.near();
    const options: [number, Plan][] = [
      [h.status === 'available' || h.status === 'busy' ? 0.7 : 5, { label: `${d.id} online`, run: () => this.online(d, client, pos, solo) }],
      [1.5, { label: `${d.id} location`, run: () => this.location(d, client, pos, solo) }],
      [h.status === 'available' ? 1 : 0.4, { label: `${d.id} offline`, run: () => this.offline(d, client, solo) }],
    ];
    if (live.length) {
      const id = this.rng.pick(live);
      options.push([7, { label: `${d.id} accept live offer`, run: () => this.accept(d, client, id).then(() => undefined) }]);
      options.push([2, { label: `${d.id} reject live offer`, run: () => this.reject(d, client, id) }]);
      if (solo) options.push([2, { label: `everyone offered ${id.slice(0, 8)} accepts at once`, run: () => this.acceptRace(id) }]);
      if (solo) options.push([2, { label: `wait for ${d.id}'s offer to end`, run: () => this.waitOfferEnds(id, d.id) }]);
    }
    if (stale.length) {
      const id = this.rng.pick(stale);
      options.push([1, { label: `${d.id} accept stale offer`, run: () => this.accept(d, client, id).then(() => undefined) }]);
      options.push([0.5, { label: `${d.id} reject stale offer`, run: () => this.reject(d, client, id) }]);
    }
    if (known.length) {
      const id = this.rng.pick(known);
      options.push([0.5, { label: `${d.id} accept any call`, run: () => this.accept(d, client, id).then(() => undefined) }]);
      const ev = this.rng.pick(TRIP_EVENTS);
      const target = trip && this.rng.chance(0.5) ? trip.id : id;
      options.push([trip ? 1.5 : 1, { label: `${d.id} ${ev} out of turn`, run: () => this.tripAction(d, client, ev, target, solo) }]);
    }
    if (trip) {
      const next = NEXT_STEP[trip.status];
      if (next) options.push([9, { label: `${d.id} ${next[0]}`, run: () => this.tripAction(d, client, next[0], trip.id, solo) }]);
      options.push([1, { label: `${d.id} trip:cancel`, run: () => this.tripAction(d, client, 'trip:cancel', trip.id, solo) }]);
    }
    if (solo) {
      const gw = this.rng.int(2);
      const how = this.rng.weighted<ReconnectHow>([[3, 'drop'], [3, 'overlap'], [3, 'quick-drop'], [3, 'handover']]);
      options.push([1, { label: `${d.id} reconnects to gw${gw} (${how})`, run: () => this.reconnect(d, gw, how) }]);
      if (EXTRA_SOCKETS) options.push([2, { label: `${d.id} opens a second socket on gw${gw} and closes it`, run: () => this.extraSocket(d, gw) }]);
      options.push([0.6, { label: `${d.id} drops its connection`, run: () => this.goAway(d) }]);
      const open = [...this.snap.calls.values()].filter((c) => OPEN.includes(c.status));
      if (open.length) {
        const oldest = open[0] as Call;
        options.push([0.25, { label: `wait for ${oldest.id.slice(0, 8)} to move on`, run: () => this.waitCallMoves(oldest) }]);
      }
    }
    return this.rng.weighted(options);
  }

  private async request(r: Rider, active: Call | undefined, solo: boolean): Promise<void> {
    const requestId = `q${r.requests++}`;
    const label = `${r.id} call:request ${requestId}`;
    const res = await this.act<Call>(r.client, label, 'call:request', { requestId, pickup: this.rng.near(), dropoff: DROPOFF });
    if (res.ok) {
      expect(res.data, `${label}: a new call`).to.include({ passengerId: r.id, status: 'requested', driverId: null, seq: 1 });
      expect(this.versions.get(res.data.id)?.size ?? 0, `${label}: call id reused`).to.be.at.most(1);
      r.lastRequest = { requestId, callId: res.data.id };
    }
    // No live call: it must be taken. A call on a trip is still live: the new one must be refused.
    if (solo && !active) this.expectOutcome(res, 'ok', `${label} with no live call`);
    if (solo && active && TRIP_STATUSES.includes(active.status)) this.expectOutcome(res, 'error', `${label} while ${brief(active)} is live`);
  }

  private async repeatRequest(r: Rider): Promise<void> {
    const { requestId, callId } = r.lastRequest as { requestId: string; callId: string };
    const label = `${r.id} call:request ${requestId} again`;
    const res = await this.act<Call>(r.client, label, 'call:request', { requestId, pickup: this.rng.near(), dropoff: DROPOFF });
    this.expectOutcome(res, 'ok', label);
    if (res.ok) expect(res.data.id, `${label}: same call`).to.equal(callId);
  }

  private async cancel(r: Rider, callId: string, solo: boolean): Promise<void> {
    const before = this.snap.calls.get(callId) as Call;
    const label = `${r.id} call:cancel ${brief(before)}`;
    const res = await this.act<Call>(r.client, label, 'call:cancel', { callId, reason: 'changed my mind' });
    if (res.ok) expect(res.data, label).to.include({ id: callId, status: 'cancelled', passengerId: r.id });
    if (!solo) return;
    if (before.passengerId !== r.id) this.expectOutcome(res, ['FORBIDDEN'], label);
    else if (before.status === 'dispatched' || before.status === 'arrived') this.expectOutcome(res, 'ok', label);
    else if (before.status === 'in_progress' || isTerminal(before.status)) this.expectOutcome(res, 'error', label);
  }

  private async get(r: Rider, callId: string): Promise<void> {
    const before = this.snap.calls.get(callId) as Call;
    const label = `${r.id} call:get ${brief(before)}`;
    const res = await this.act<Call>(r.client, label, 'call:get', { callId });
    // Its own call it may read, another rider's never.
    this.expectOutcome(res, before.passengerId === r.id ? 'ok' : ['FORBIDDEN'], label);
    if (res.ok) expect(res.data.seq, `${label}: older than Redis was before`).to.be.at.least(before.seq);
  }

  private async active(r: Rider): Promise<void> {
    const res = await this.act<Call[]>(r.client, `${r.id} call:active`, 'call:active', {});
    this.expectOutcome(res, 'ok', `${r.id} call:active`);
    if (!res.ok) return;
    expect(res.data, `${r.id} call:active`).to.be.an('array').with.length.at.most(1);
    for (const c of res.data) {
      expect(c.passengerId, `${r.id} call:active`).to.equal(r.id);
      expect(isTerminal(c.status), `${r.id} call:active lists ${brief(c)}`).to.equal(false);
      this.version(c, `call:active of ${r.id}`);
    }
  }

  private async online(d: Driver, client: TestClient, pos: { lat: number; lng: number }, solo: boolean): Promise<void> {
    const busy = this.snap.drivers.get(d.id)?.status === 'busy';
    const res = await this.act(client, `${d.id} driver:online`, 'driver:online', pos);
    if (res.ok) {
      expect(res.data).to.deep.equal({ status: 'available' });
      d.intentOnline = true;
      d.covered = true;
    }
    if (solo) this.expectOutcome(res, busy ? ['DRIVER_BUSY'] : 'ok', `${d.id} driver:online while ${busy ? 'busy' : 'not busy'}`);
  }

  private async offline(d: Driver, client: TestClient, solo: boolean): Promise<void> {
    const busy = this.snap.drivers.get(d.id)?.status === 'busy';
    const res = await this.act(client, `${d.id} driver:offline`, 'driver:offline', {});
    if (res.ok) {
      expect(res.data).to.deep.equal({ status: 'offline' });
      d.intentOnline = false;
    }
    if (solo) this.expectOutcome(res, busy ? ['DRIVER_BUSY'] : 'ok', `${d.id} driver:offline while ${busy ? 'busy' : 'not busy'}`);
  }

  private async location(d: Driver, client: TestClient, pos: { lat: number; lng: number }, solo: boolean): Promise<void> {
    const res = await this.act(client, `${d.id} driver:location`, 'driver:location', pos);
    if (res.ok) expect(res.data).to.deep.equal({});
    if (solo) this.expectOutcome(res, 'ok', `${d.id} driver:location`);
  }

  /** Resolves true when this accept won the call. */
  private async accept(d: Driver, client: TestClient, callId: string): Promise<boolean> {
    const label = `${d.id} offer:accept ${brief(this.snap.calls.get(callId) as Call)}`;
    const res = await this.act<Call>(client, label, 'offer:accept', { callId });
    if (!res.ok) return false;
    expect(res.data, label).to.include({ id: callId, status: 'dispatched', driverId: d.id });
    const key = `${callId}#${res.data.seq}`;
    const other = this.winners.get(key);
    if (other) expect(other, `two drivers won ${key}`).to.equal(d.id);
    else this.stats.accepts++;
    this.winners.set(key, d.id);
    return true;
  }

  /** Every connected driver holding a live offer of this call accepts at the same instant: at most one wins. */
  private async acceptRace(callId: string): Promise<void> {
    const racers = this.drivers.filter((d) => d.client && isLiveState(this.snap.offers.get(callId)?.[d.id], this.snap.at));
    const won = await Promise.all(racers.map((d) => this.accept(d, d.client as TestClient, callId)));
    const winners = racers.filter((_, i) => won[i]).map((d) => d.id);
    expect(winners, `accept race on ${callId} among ${racers.map((d) => d.id).join(',')}`).to.have.length.at.most(1);
  }

  private async reject(d: Driver, client: TestClient, callId: string): Promise<void> {
    const res = await this.act(client, `${d.id} offer:reject ${brief(this.snap.calls.get(callId) as Call)}`, 'offer:reject', { callId });
    if (res.ok) expect(res.data).to.deep.equal({});
  }

  private async tripAction(d: Driver, client: TestClient, event: TripEvent, callId: string, solo: boolean): Promise<void> {
    const before = this.snap.calls.get(callId) as Call;
    const label = `${d.id} ${event} ${brief(before)}`;
    const res = await this.act<Call>(client, label, event, event === 'trip:cancel' ? { callId, reason: 'flat tyre' } : { callId });
    if (res.ok) {
      if (event === 'trip:cancel') {
        expect(res.data, label).to.include({ id: callId, status: 'offered', driverId: null });
        this.stats.backOuts++;
      } else {
        expect(res.data, label).to.include({ id: callId, status: STEP_TARGET[event], driverId: d.id });
        if (event === 'trip:complete') this.stats.completed++;
      }
    }
    if (!solo) return;
    // Only this driver moves a trip on: the outcome follows from the state before.
    const mine = before.driverId === d.id;
    if (!mine) this.expectOutcome(res, before.status === 'cancelled' ? ['FORBIDDEN', 'CALL_CANCELLED'] : ['FORBIDDEN'], label);
    else if (before.status === 'cancelled') this.expectOutcome(res, ['CALL_CANCELLED'], label);
    else if (event === 'trip:cancel') this.expectOutcome(res, before.status === 'dispatched' || before.status === 'arrived' ? 'ok' : ['INVALID_STATE'], label);
    else this.expectOutcome(res, NEXT_STEP[before.status]?.[0] === event ? 'ok' : ['INVALID_STATE'], label);
  }

  /**
   * A new socket for the driver, to either gateway:
   *  - 'drop': the old socket closes, and once the server has registered that, the new one opens;
   *  - 'overlap': the new socket opens (and is acked) before the old one closes;
   *  - 'after-away': ends an absence (goAway);
   *  - 'quick-drop': the old socket closes and the new one opens at once (the old one's disconnect
   *    may be handled before, during or after the new one's connect);
   *  - 'handover': the old socket closes the moment the new one's transport is open, while its
   *    Socket.IO handshake is under way.
   * The reconnect counts as within the grace only when a later ack on the new socket (which runs after
   * the gateway marked the driver connected, on the same Redis connection) came back less than
   * DRIVER_GRACE_MS after the old socket closed.
   */
  private async reconnect(d: Driver, gw: number, how: ReconnectHow): Promise<void> {
    this.log.push(`${this.step}: ${d.id} reconnects to gw${gw} (${how})`);
    this.stats.reconnects++;
    const trip = this.tripOf(d);
    if (how === 'drop') await this.dropAndRegister(d);
    if (how === 'quick-drop') this.drop(d);
    const client = await openDriverSocket(this.gw(gw), d.id, how === 'handover' ? () => this.drop(d) : undefined);
    const probe = await client.emit('call:get', { callId: 'no-such-call' });
    expect(probe, `${d.id} presence probe`).to.deep.include({ ok: false });
    if (how !== 'overlap' && Date.now() - d.closedAt >= ENV.DRIVER_GRACE_MS) d.covered = false;
    if (how === 'overlap' || how === 'handover') this.drop(d);
    d.client = client;
    // The resync: its current trip again (nobody else moves a trip while this step runs).
    if (trip) await client.next<Call>('trip:status', (c) => c.id === trip.id, 5000);
  }

  private drop(d: Driver): void {
    if (!d.client) return;
    d.past.push(...d.client.seen);
    d.client.close();
    d.client = null;
    d.closedAt = Date.now();
  }

  /** A second socket of the driver comes and goes; the first one stays. Its events are not checked. */
  private async extraSocket(d: Driver, gw: number): Promise<void> {
    this.log.push(`${this.step}: ${d.id} opens a second socket on gw${gw} and closes it`);
    const extra = await openDriverSocket(this.gw(gw), d.id);
    const probe = await extra.emit('call:get', { callId: 'no-such-call' });
    expect(probe, `${d.id} presence probe`).to.deep.include({ ok: false });
    extra.close();
  }

  /** Close the driver's socket and wait until the server registered it: the grace started (awaySince set anew). */
  private async dropAndRegister(d: Driver): Promise<void> {
    const key = this.stack.keys.driver(d.id);
    const before = await this.stack.redis.hget(key, 'awaySince');
    this.drop(d);
    await until(async () => {
      const now = await this.stack.redis.hget(key, 'awaySince');
      return now !== null && now !== '' && now !== before;
    }, `the server to register that ${d.id}'s last socket closed (its grace period to start: awaySince set)`, 5000, 5);
  }

  private async goAway(d: Driver): Promise<void> {
    this.log.push(`${this.step}: ${d.id} drops its connection`);
    await this.dropAndRegister(d);
  }

  // ---------------------------------------------------------------- letting time pass (the timers must fire)

  private async waitOfferEnds(callId: string, driverId: string): Promise<void> {
    this.log.push(`${this.step}: wait for the offer of ${callId.slice(0, 8)} to ${driverId} to end`);
    await until(
      async () => !isNumericState(await this.stack.redis.hget(this.stack.keys.callOffers(callId), driverId)),
      `the offer of ${callId} to ${driverId} to end (OFFER_TIMEOUT_MS ${ENV.OFFER_TIMEOUT_MS})`,
      ENV.OFFER_TIMEOUT_MS + 5000,
    );
  }

  private async waitGrace(d: Driver): Promise<void> {
    this.log.push(`${this.step}: wait for ${d.id}'s grace to end`);
    this.stats.graces++;
    await until(async () => {
      const [status, after] = await this.stack.redis.hmget(this.stack.keys.driver(d.id), 'status', 'offlineAfterTrip');
      return status === 'offline' || (status === 'busy' && after === '1');
    }, `${d.id}, away, to go offline (or offline after its trip) after DRIVER_GRACE_MS ${ENV.DRIVER_GRACE_MS}`, ENV.DRIVER_GRACE_MS + 5000);
  }

  private async waitCallMoves(c: Call): Promise<void> {
    this.log.push(`${this.step}: wait for ${brief(c)} to move on`);
    await until(async () => {
      const json = await this.stack.redis.hget(this.stack.keys.call(c.id), 'json');
      return (JSON.parse(json as string) as Call).seq > c.seq;
    }, `open call ${brief(c)} to move on (at the latest unfulfilled after CALL_TIMEOUT_MS ${ENV.CALL_TIMEOUT_MS})`, ENV.CALL_TIMEOUT_MS + 5000);
  }

  /**
   * Liveness: a call waiting for a driver is matched again as soon as a driver it was never offered
   * to is free (every free driver is in range: see Rng.near). Waits until no waiting call has one.
   */
  private async waitMatched(): Promise<void> {
    const stuckIn = (s: Snapshot) => [...s.waiting].flatMap((id) => {
      const fresh = [...s.free].filter((d) => s.offers.get(id)?.[d] === undefined);
      return fresh.length ? [`${id} (free and never offered it: ${fresh.join(',')})`] : [];
    }).join('; ');
    let stuck = stuckIn(this.snap);
    if (!stuck) return;
    await until(async () => {
      stuck = stuckIn(await this.snapshot());
      return stuck === '';
    }, 'waiting calls to be offered to free drivers in range', 5000, 10).catch((err: Error) => {
      throw new Error(`${err.message}: ${stuck}`);
    });
  }

  // ---------------------------------------------------------------- the run

  async run(): Promise<void> {
    for (this.step = 1; this.step <= STEPS; this.step++) {
      const actors = [...this.riders.map((r) => ({ r })), ...this.drivers.map((d) => ({ d }))];
      if (this.rng.chance(BURST)) {
        // Several actors at the same instant, on both gateways.
        const chosen = new Set<number>();
        const k = 2 + this.rng.int(2);
        while (chosen.size < k) chosen.add(this.rng.int(actors.length));
        const plans = [...chosen].flatMap((i) => {
          const a = actors[i] as { r?: Rider; d?: Driver };
          if (a.r) return [this.planRider(a.r, false)];
          if (a.d?.client) return [this.planDriver(a.d, false)];
          return [];
        });
        this.log.push(`${this.step}: burst [${plans.map((p) => p.label).join(' | ')}]`);
        await Promise.all(plans.map((p) => p.run()));
      } else {
        const a = this.rng.pick(actors) as { r?: Rider; d?: Driver };
        const plan = a.r ? this.planRider(a.r, true) : this.planDriver(a.d as Driver, true);
        await plan.run();
      }
      await this.observe();
      await this.waitMatched();
    }
  }

  /**
   * Wait (with a deadline) until `done` holds on a fresh observation. A broken invariant seen
   * meanwhile fails at once rather than being retried.
   */
  private async settle<T>(what: string, ms: number, done: (s: Snapshot) => T | null): Promise<NonNullable<T>> {
    let broken: Error | undefined;
    const out = await until(async () => {
      let s: Snapshot;
      try {
        s = await this.observe();
      } catch (err) {
        broken = err instanceof Error ? err : new Error(String(err));
        return true;
      }
      return done(s);
    }, what, ms, 50);
    if (broken !== undefined) throw broken;
    return out as NonNullable<T>;
  }

  /** Let every call settle, then compare pushes, Redis and the ledger. */
  async finish(): Promise<void> {
    this.log.push('finish: wait for every open call to end');
    // No actor acts any more: open calls end unfulfilled at the latest; trips stay as they are.
    const snap = await this.settle('every open call to end (unfulfilled at the latest after CALL_TIMEOUT_MS)', ENV.CALL_TIMEOUT_MS + 15000, (s) =>
      [...s.calls.values()].every((c) => !OPEN.includes(c.status)) ? s : null);
    const ids = [...snap.calls.keys()];

    // Every rider (connected all along) was told every change of each of its calls, and kept the last.
    await this.settle('every rider to be told every change of each of its calls', 5000, () => {
      const behind = ids.flatMap((id) => {
        const c = snap.calls.get(id) as Call;
        const k = this.kept.get(id);
        const missed = Array.from({ length: c.seq }, (_, i) => i + 1).filter((seq) => !this.pushed.get(id)?.has(seq));
        return k?.seq === c.seq && k.status === c.status && missed.length === 0
          ? [] : [`${c.passengerId} has ${id} at ${k?.seq}/${k?.status} (never got seq ${missed.join(',')}), Redis ${c.seq}/${c.status}`];
      });
      if (behind.length) throw new Error(behind.join('; '));
      return true;
    });

    // The ledger holds exactly Redis's history: the same last seq, every seq once.
    const db = this.stack.env.DB_PATH as string;
    await until(async () => {
      const m = await ledgerMismatch(db, this.stack.redis, this.stack.keys, ids);
      if (m) throw new Error(m);
      return true;
    }, 'the ledger to hold every call as Redis does', 10000);
    const ledger = readLedger(db);
    expect(ledger.calls.map((c) => c.id).sort(), 'calls in the ledger').to.deep.equal([...ids].sort());
    for (const id of ids) {
      const history = ledger.events.filter((e) => e.callId === id).sort((a, b) => a.seq - b.seq);
      expect(history[0]?.status, `ledger history of ${id} starts`).to.equal('requested');
      for (let i = 1; i < history.length; i++) {
        const [a, b] = [history[i - 1], history[i]] as [(typeof history)[0], (typeof history)[0]];
        expect(canTransition(a.status as CallStatus, b.status as CallStatus), `ledger of ${id}: ${a.status} (seq ${a.seq}) → ${b.status} (seq ${b.seq})`).to.equal(true);
      }
      // Every version seen anywhere (acks, pushes, Redis) is the ledger's.
      for (const [seq, c] of this.versions.get(id) ?? new Map<number, Call>()) {
        expect(history.find((e) => e.seq === seq)?.status, `ledger of ${id} at seq ${seq}`).to.equal(c.status);
      }
      const row = ledger.calls.find((c) => c.id === id);
      expect(row, `ledger row of ${id}`).to.deep.equal(snap.calls.get(id));
    }

    // What the run reached (so a run that exercised nothing does not pass unnoticed).
    const statuses = new Map<string, number>();
    for (const c of snap.calls.values()) statuses.set(c.status, (statuses.get(c.status) ?? 0) + 1);
    console.log(`      seed ${this.seed}: ${STEPS} steps, ${ids.length} calls ${JSON.stringify(Object.fromEntries(statuses))}, ` +
      `${JSON.stringify(this.stats)}, acks ${JSON.stringify(Object.fromEntries([...this.codes].sort()))}`);
    expect(this.stats.accepts, 'accepts that won').to.be.greaterThan(0);
    expect(ids.length, 'calls made').to.be.greaterThan(3);
  }

  /** After all that, an ordinary ride still works on this stack. */
  async normalRide(): Promise<void> {
    this.log.push('a normal ride');
    this.extraDrivers.push('final-d');
    const driver = await connect(this.gw(1), 'final-d', 'driver');
    const rider = await connect(this.gw(0), 'final-r', 'passenger');
    try {
      expect(await driver.emit('driver:online', PICKUP)).to.deep.equal({ ok: true, data: { status: 'available' } });
      const req = await rider.emit<Call>('call:request', { requestId: 'final', pickup: PICKUP, dropoff: DROPOFF });
      if (!req.ok) throw new Error(`final request: ${JSON.stringify(req.error)}`);
      expect(req.data).to.include({ passengerId: 'final-r', status: 'requested', seq: 1 });
      const offer = await driver.next<Offer>('offer', (o) => o.callId === req.data.id, 5000);
      expect(offer.distanceM).to.equal(0);
      const won = await driver.emit<Call>('offer:accept', { callId: req.data.id });
      expect(won.ok, JSON.stringify(won)).to.equal(true);
      if (!won.ok) return;
      expect(won.data).to.include({ id: req.data.id, status: 'dispatched', driverId: 'final-d', seq: 3 });
      expect(await rider.next<Call>('call:status', (c) => c.id === req.data.id && c.status === 'dispatched', 5000)).to.deep.equal(won.data);
      this.checkState(await this.snapshot());
    } finally {
      driver.close();
      rider.close();
    }
  }
}

/** A driver's socket; `onTransportOpen` runs once the transport is open, before the handshake is done. */
function openDriverSocket(url: string, id: string, onTransportOpen?: () => void): Promise<TestClient> {
  return connect(url, id, 'driver', { onTransportOpen });
}

function isCall(x: unknown): x is Call {
  return typeof x === 'object' && x !== null && 'id' in x && 'seq' in x && 'status' in x;
}

describe('property: random riders and drivers on two gateways', function () {
  this.timeout(60000);
  const allCodes = new Map<string, number>();
  after(() => {
    console.log(`      acks over all seeds: ${JSON.stringify(Object.fromEntries([...allCodes].sort()))}`);
  });

  for (const seed of SEEDS) {
    it(`seed ${seed}: ${STEPS} steps keep every invariant, and the ledger matches Redis`, async () => {
      const stack = await startStack({ gateways: 2, dispatchers: 1, env: ENV });
      const world = new World(seed, stack);
      try {
        await world.start();
        await world.run();
        await world.finish();
        await world.normalRide();
      } catch (err) {
        // A plain Error, so the reporter prints all of it (not only an assertion's first line).
        const e = err instanceof Error ? err : new Error(String(err));
        // The actors the failure names: their whole history, besides the last steps of everyone.
        const named = [...new Set(e.message.match(/\b[rd]\d+\b/g) ?? [])];
        const theirs = world.log.filter((l) => named.some((a) => new RegExp(`\\b${a}\\b`).test(l)));
        throw new Error(
          `[seed ${seed}, step ${world.step}] ${e.message}\n` +
          `  replay: PROPERTY_SEED=${seed} PROPERTY_STEPS=${STEPS}${EXTRA_SOCKETS ? '' : ' PROPERTY_EXTRA_SOCKETS=0'} npx mocha test/property.test.ts\n` +
          (named.length ? `  history of ${named.join(', ')}:\n    ${theirs.slice(-40).join('\n    ')}\n` : '') +
          `  last actions:\n    ${world.log.slice(-25).join('\n    ')}\n  ${e.stack ?? ''}`,
        );
      } finally {
        for (const [k, v] of world.codes) allCodes.set(k, (allCodes.get(k) ?? 0) + v);
        world.close();
        await stack.stop();
      }
    });
  }
});
