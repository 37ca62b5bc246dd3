/**
 * A simulated driver: goes online in its area, wanders and reports its position, answers each offer
 * (accept with some probability after a random delay, else reject), runs its trips step by step, and
 * signs off cleanly (finishes or hands back its trip, `driver:offline`, disconnect).
 */
import { performance } from 'node:perf_hooks';
import {
  isTerminal, TRIP_STATUSES, type Call, type LatLng, type Offer, type OfferRevoked,
} from '../../../protocol/index.js';
import { within } from '../async.js';
import { distanceM, randomPointWithin, stepToward, wander } from '../geo.js';
import { randomIn } from '../options.js';
import { ackLost, type DispatchClient, type Outcome } from '../../../protocol/client.js';
import { connectAs, openClient, type ClientError } from './socket.js';

export interface DriverOptions {
  id: string;
  url: string;
  secret: string;
  /** Its area: it starts at a random point within `spreadM` metres of `home` and stays near it. */
  home: LatLng;
  spreadM: number;
  /** Probability of accepting an offer; otherwise it rejects it. */
  acceptRate: number;
  /** It answers an offer after a random delay in this range (ms, inclusive). */
  acceptDelayMs: readonly [number, number];
  /** arrived, in_progress and completed are spread evenly over this many ms. */
  tripMs: number;
  /** Mean interval of its `driver:location` reports (ms, ±25 %); 0 turns them off. Default 3000. */
  locationEveryMs?: number;
}

export type TripEnd = 'completed' | 'cancelled' | 'lost';

/** What a driver lets an observer see; `at` is performance.now() when it happened at the client. */
export interface DriverObserver {
  online?(d: SimDriver): void;
  offer?(d: SimDriver, offer: Offer, at: number): void;
  revoked?(d: SimDriver, revoked: OfferRevoked): void;
  acceptSent?(d: SimDriver, callId: string, at: number): void;
  accepted?(d: SimDriver, call: Call, at: number): void;
  acceptFailed?(d: SimDriver, callId: string, error: ClientError): void;
  rejected?(d: SimDriver, callId: string): void;
  tripStep?(d: SimDriver, call: Call): void;
  tripEnded?(d: SimDriver, callId: string, how: TripEnd): void;
  /** An accept succeeded while the driver still held another trip: the contract is broken. */
  doubleTrip?(d: SimDriver, heldCallId: string, newCallId: string): void;
  error?(d: SimDriver, event: string, error: ClientError): void;
}

const NEXT_STEP = {
  dispatched: { to: 'arrived', event: 'trip:arrived' },
  arrived: { to: 'in_progress', event: 'trip:start' },
  in_progress: { to: 'completed', event: 'trip:complete' },
} as const;
type StepFrom = keyof typeof NEXT_STEP;

const STEP_RETRIES = 3;
const WANDER_STEP_M = 80;
const DRIVE_STEP_M = 300;

interface Trip {
  call: Call;
  timer?: NodeJS.Timeout;
  attempts: number;
}

export class SimDriver {
  readonly id: string;
  position: LatLng;
  /** Online as far as the server told it (and connected). */
  online = false;
  trip: Trip | null = null;
  private client: DispatchClient | undefined;
  private readonly observers: DriverObserver[];
  /** Offers waiting for their answer, by call id. */
  private readonly decisions = new Map<string, NodeJS.Timeout>();
  private readonly accepting = new Set<string>();
  private readonly inflight = new Set<Promise<unknown>>();
  private locationTimer: NodeJS.Timeout | undefined;
  private ready: Promise<Outcome<unknown>> | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly o: DriverOptions, ...observers: DriverObserver[]) {
    this.id = o.id;
    this.observers = observers;
    this.position = randomPointWithin(o.home, o.spreadM);
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Connect and go online; resolves once the server has the driver available (or on its trip). */
  async start(): Promise<void> {
    const client = openClient(this.o.url, { id: this.id, role: 'driver' }, this.o.secret);
    this.client = client;
    client.on('offer', (offer) => this.onOffer(offer));
    client.on('offer:revoked', (r) => this.onRevoked(r));
    client.on('trip:status', (call) => this.onTripStatus(call));
    client.socket.on('disconnect', () => {
      this.online = false;
    });
    // Every (re)connect: online again (after a long outage the grace period has put it offline).
    client.socket.on('connect', () => {
      if (!this.stopping) this.ready = this.track(this.goOnline());
    });
    await connectAs(client, this.id);
    const res = await (this.ready ?? this.goOnline());
    if (!res.ok) throw new Error(`${this.id}: driver:online failed: ${res.error.code} ${res.error.message}`);
    this.scheduleLocation();
  }

  /** Finish or hand back the trip, go offline, disconnect. Safe to call more than once. */
  stop(deadlineMs = 5000): Promise<void> {
    this.stopping ??= this.signOff(deadlineMs);
    return this.stopping;
  }

  private async signOff(deadlineMs: number): Promise<void> {
    clearTimeout(this.locationTimer);
    for (const t of this.decisions.values()) clearTimeout(t);
    this.decisions.clear();
    // An accept still on its way may win: let it land so the trip is handled below, not left busy.
    await within(Promise.allSettled([...this.inflight]), deadlineMs);
    const client = this.client;
    if (client?.connected) {
      const trip = this.trip;
      if (trip) {
        clearTimeout(trip.timer);
        // Before the rider is aboard the trip goes back to dispatch; once started, it is finished.
        const res = trip.call.status === 'in_progress'
          ? await client.request('trip:complete', { callId: trip.call.id }, { timeoutMs: deadlineMs })
          : await client.request('trip:cancel', { callId: trip.call.id, reason: 'driver signed off' }, { timeoutMs: deadlineMs });
        if (!res.ok) this.fail(trip.call.status === 'in_progress' ? 'trip:complete' : 'trip:cancel', res.error);
        this.endTrip(trip, res.ok && res.data.status === 'completed' ? 'completed' : 'cancelled');
      }
      const res = await client.request('driver:offline', {}, { timeoutMs: deadlineMs });
      if (!res.ok) this.fail('driver:offline', res.error);
    }
    this.online = false;
    client?.close();
  }

  private async goOnline(): Promise<Outcome<unknown>> {
    const client = this.client;
    if (!client) throw new Error('not started');
    if (this.trip) {
      // The server keeps a driver on a trip busy across reconnects; nothing to announce.
      this.online = true;
      return { ok: true, data: null };
    }
    const res = await client.request('driver:online', this.position);
    if (res.ok || res.error.code === 'DRIVER_BUSY') {
      // DRIVER_BUSY: the server has a trip for this id (an earlier run); its trip:status resync adopts it.
      this.online = true;
      this.emit('online', this);
      return { ok: true, data: res.ok ? res.data : null };
    }
    this.fail('driver:online', res.error);
    return res;
  }

  private onOffer(offer: Offer): void {
    this.emit('offer', this, offer, performance.now());
    const callId = offer.callId;
    // A resync after a reconnect repeats live offers: answer each once.
    if (this.stopping || this.decisions.has(callId) || this.accepting.has(callId) || this.trip?.call.id === callId) return;
    const timer = setTimeout(() => {
      this.decisions.delete(callId);
      this.decide(offer);
    }, randomIn(this.o.acceptDelayMs));
    this.decisions.set(callId, timer);
  }

  private decide(offer: Offer): void {
    // On a trip by now, or the offer ran out: the server revokes it (`busy` / `expired`) by itself.
    if (this.stopping || this.trip || Date.now() >= offer.expiresAt) return;
    if (Math.random() < this.o.acceptRate) void this.track(this.accept(offer.callId));
    else void this.track(this.reject(offer.callId));
  }

  private onRevoked(r: OfferRevoked): void {
    const t = this.decisions.get(r.callId);
    if (t) {
      clearTimeout(t);
      this.decisions.delete(r.callId);
    }
    this.emit('revoked', this, r);
  }

  private async accept(callId: string): Promise<void> {
    const client = this.client as DispatchClient;
    this.accepting.add(callId);
    this.emit('acceptSent', this, callId, performance.now());
    const res = await client.request('offer:accept', { callId });
    this.accepting.delete(callId);
    if (!res.ok) {
      this.emit('acceptFailed', this, callId, res.error);
      this.fail('offer:accept', res.error);
      // The ack was lost, not the accept: ask whether it won, so a won trip is not left hanging.
      if (ackLost(res.error.code)) await this.recover(callId);
      return;
    }
    this.won(res.data);
  }

  private won(call: Call): void {
    this.emit('accepted', this, call, performance.now());
    if (this.trip && this.trip.call.id !== call.id) {
      this.emit('doubleTrip', this, this.trip.call.id, call.id);
      return;
    }
    if (!this.trip && !this.stopping) this.beginTrip(call);
  }

  private async recover(callId: string): Promise<void> {
    const res = await (this.client as DispatchClient).request('call:get', { callId });
    if (res.ok && res.data.driverId === this.id && TRIP_STATUSES.includes(res.data.status)) this.won(res.data);
  }

  private async reject(callId: string): Promise<void> {
    const res = await (this.client as DispatchClient).request('offer:reject', { callId });
    if (res.ok) this.emit('rejected', this, callId);
    else this.fail('offer:reject', res.error);
  }

  private beginTrip(call: Call): void {
    const trip: Trip = { call, attempts: 0 };
    this.trip = trip;
    this.scheduleStep(trip, this.o.tripMs / 3);
  }

  private scheduleStep(trip: Trip, ms: number): void {
    trip.timer = setTimeout(() => void this.track(this.step(trip)), ms);
  }

  /** The next step of the trip: at the pickup → arrived, then started, then at the dropoff → completed. */
  private async step(trip: Trip): Promise<void> {
    if (this.trip !== trip || this.stopping) return;
    const client = this.client as DispatchClient;
    const from = trip.call.status;
    if (!(from in NEXT_STEP)) return;
    const { to, event } = NEXT_STEP[from as StepFrom];
    if (to === 'arrived') this.position = { lat: trip.call.pickup.lat, lng: trip.call.pickup.lng };
    if (to === 'completed') {
      // Drop the rider off, then head back into its area if the dropoff is outside it; the server
      // frees the driver at its last reported position.
      const dropoff = { lat: trip.call.dropoff.lat, lng: trip.call.dropoff.lng };
      this.position = distanceM(dropoff, this.o.home) <= this.o.spreadM ? dropoff : randomPointWithin(this.o.home, this.o.spreadM);
      const loc = await client.request('driver:location', this.position);
      if (!loc.ok) this.fail('driver:location', loc.error);
      if (this.trip !== trip || this.stopping) return;
    }
    const res = await client.request(event, { callId: trip.call.id });
    if (this.trip !== trip) return; // ended meanwhile (cancelled by the rider)
    if (res.ok) {
      trip.call = res.data;
      trip.attempts = 0;
      this.emit('tripStep', this, res.data);
      if (isTerminal(res.data.status)) this.endTrip(trip, 'completed');
      else if (!this.stopping) this.scheduleStep(trip, this.o.tripMs / 3);
      return;
    }
    this.fail(event, res.error);
    if (ackLost(res.error.code) && ++trip.attempts < STEP_RETRIES) {
      this.scheduleStep(trip, 1000);
      return;
    }
    this.endTrip(trip, res.error.code === 'CALL_CANCELLED' ? 'cancelled' : 'lost');
  }

  private endTrip(trip: Trip, how: TripEnd): void {
    if (this.trip !== trip) return;
    clearTimeout(trip.timer);
    this.trip = null;
    this.emit('tripEnded', this, trip.call.id, how);
  }

  private onTripStatus(call: Call): void {
    const trip = this.trip;
    if (trip && trip.call.id === call.id) {
      if (call.seq <= trip.call.seq) return; // stale
      if (call.status === 'cancelled' || call.status === 'offered') this.endTrip(trip, 'cancelled');
      else if (!isTerminal(call.status)) trip.call = call; // `completed` is settled by its own ack
      return;
    }
    // A trip it did not know of (an earlier run with this id, or an accept whose ack was lost): take it up.
    if (!trip && !this.stopping && call.driverId === this.id && TRIP_STATUSES.includes(call.status) && !this.accepting.has(call.id)) {
      this.beginTrip(call);
    }
  }

  private scheduleLocation(): void {
    const every = this.o.locationEveryMs ?? 3000;
    if (every <= 0 || this.stopping) return;
    this.locationTimer = setTimeout(() => {
      void this.track(this.moveAndReport());
      this.scheduleLocation();
    }, every * (0.75 + Math.random() * 0.5));
  }

  private async moveAndReport(): Promise<void> {
    const client = this.client;
    if (!client?.connected || !this.online || this.stopping) return;
    const call = this.trip?.call;
    if (call) this.position = stepToward(this.position, call.status === 'in_progress' ? call.dropoff : call.pickup, DRIVE_STEP_M);
    else this.position = wander(this.position, this.o.home, this.o.spreadM, WANDER_STEP_M);
    const res = await client.request('driver:location', this.position);
    if (!res.ok) this.fail('driver:location', res.error);
  }

  private fail(event: string, error: ClientError): void {
    this.emit('error', this, event, error);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    const done = () => void this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  private emit<K extends keyof DriverObserver>(name: K, ...args: Parameters<NonNullable<DriverObserver[K]>>): void {
    for (const o of this.observers) (o[name] as ((...a: typeof args) => void) | undefined)?.(...args);
  }
}
