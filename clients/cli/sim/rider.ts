/**
 * A simulated rider: requests one ride at a time (idempotent requestId, retried on a lost ack),
 * follows its call through `call:status` (stale updates dropped by seq, pushes that beat the ack
 * kept), and can cancel it.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  isTerminal, TRIP_STATUSES, type Call, type DriverLocationPush, type LatLng,
} from '../../../protocol/index.js';
import { deferred } from '../async.js';
import { ackLost, type DispatchClient, type Outcome } from '../../../protocol/client.js';
import { connectAs, openClient, type ClientError } from './socket.js';

export interface RiderOptions {
  id: string;
  url: string;
  secret: string;
  /** How many times a request whose ack did not come is sent again (same requestId). Default 2. */
  requestRetries?: number;
}

/** What a rider lets an observer see; `at` is performance.now() at the client. */
export interface RiderObserver {
  requestSent?(r: SimRider, requestId: string, at: number): void;
  requestAcked?(r: SimRider, res: Outcome<Call>, at: number): void;
  /** A newer state of the current call (from the ack, a push, a cancel or a re-read). */
  status?(r: SimRider, call: Call, at: number): void;
  /** The rider was told of a second driver for a call no driver had handed back: the contract is broken. */
  doubleDriver?(r: SimRider, call: Call, previousDriverId: string): void;
  location?(r: SimRider, loc: DriverLocationPush): void;
  error?(r: SimRider, event: string, error: ClientError): void;
}

export type RideResult =
  | { outcome: 'final'; call: Call }
  | { outcome: 'failed'; error: ClientError }
  | { outcome: 'timeout'; call: Call | null }
  | { outcome: 'aborted'; call: Call | null };

export interface RideOptions {
  /** Give up waiting after this long (the call is left as it is). Default: wait until it ends. */
  timeoutMs?: number;
  /** Send `call:cancel` this long after the request, if the call has not ended by then. */
  cancelAfterMs?: number;
}

export class SimRider {
  readonly id: string;
  /** The call of the ride under way (its latest known state), or the last one. */
  current: Call | null = null;
  private client: DispatchClient | undefined;
  private readonly observers: RiderObserver[];
  /** While a request waits for its ack, pushes of not-yet-known calls are kept here, with when they came. */
  private early: { call: Call; at: number }[] | null = null;
  /** The driver the current call is assigned to, as told so far. */
  private assigned: string | null = null;
  private finished: ((r: RideResult) => void) | undefined;
  private closed = false;

  constructor(private readonly o: RiderOptions, ...observers: RiderObserver[]) {
    this.id = o.id;
    this.observers = observers;
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  get busy(): boolean {
    return this.finished !== undefined;
  }

  async connect(): Promise<void> {
    const client = openClient(this.o.url, { id: this.id, role: 'passenger' }, this.o.secret);
    this.client = client;
    client.on('call:status', (call) => this.onStatus(call));
    client.on('driver:location', (loc) => this.emit('location', this, loc));
    let first = true;
    client.socket.on('connect', () => {
      // The resync after a reconnect covers non-terminal calls only: re-read one that may have ended.
      if (!first && this.current && !isTerminal(this.current.status)) void this.reread(this.current.id);
      first = false;
    });
    await connectAs(client, this.id);
  }

  /** Request a ride and follow it until it ends (or the timeout, or `abort()`). */
  async ride(pickup: LatLng, dropoff: LatLng, opts: RideOptions = {}): Promise<RideResult> {
    const client = this.client;
    if (!client) throw new Error('not connected');
    if (this.finished) throw new Error(`${this.id} already has a ride under way`);
    const done = deferred<RideResult>();
    this.finished = done.resolve;
    this.current = null;
    this.assigned = null;
    this.early = [];
    const timers: NodeJS.Timeout[] = [];
    const sentAt = performance.now();
    try {
      const requestId = randomUUID();
      this.emit('requestSent', this, requestId, sentAt);
      let res: Outcome<Call> = await client.request('call:request', { requestId, pickup, dropoff });
      for (let retry = 0; !res.ok && ackLost(res.error.code) && retry < (this.o.requestRetries ?? 2) && this.finished; retry++) {
        res = await client.request('call:request', { requestId, pickup, dropoff });
      }
      this.emit('requestAcked', this, res, performance.now());
      const early = this.early;
      this.early = null;
      if (!this.finished) return await done.promise; // aborted meanwhile
      if (!res.ok) {
        this.emit('error', this, 'call:request', res.error);
        return { outcome: 'failed', error: res.error };
      }
      // The ack and the pushes that beat it, in seq order; each state counts from when it first came.
      const states = [...early.filter((e) => e.call.id === res.data.id), { call: res.data, at: performance.now() }];
      for (const e of states.sort((x, y) => x.call.seq - y.call.seq || x.at - y.at)) this.apply(e.call, e.at);
      if (opts.timeoutMs !== undefined) {
        timers.push(setTimeout(() => this.finish({ outcome: 'timeout', call: this.current }), Math.max(0, opts.timeoutMs - (performance.now() - sentAt))));
      }
      if (opts.cancelAfterMs !== undefined) {
        timers.push(setTimeout(() => void this.cancel('cancel-after-ms'), Math.max(0, opts.cancelAfterMs - (performance.now() - sentAt))));
      }
      return await done.promise;
    } finally {
      for (const t of timers) clearTimeout(t);
      this.finished = undefined;
      this.early = null;
    }
  }

  /** Cancel the current call; the result (also when refused) is returned, the new state applied. */
  async cancel(reason?: string): Promise<Outcome<Call> | null> {
    const call = this.current;
    if (!this.client || !call || isTerminal(call.status)) return null;
    const res = await this.client.request('call:cancel', reason ? { callId: call.id, reason } : { callId: call.id });
    if (res.ok) this.apply(res.data);
    else if (!this.closed) this.emit('error', this, 'call:cancel', res.error);
    return res;
  }

  /** The rider's open calls, as the server has them. */
  async active(): Promise<Outcome<Call[]>> {
    if (!this.client) throw new Error('not connected');
    return this.client.request('call:active', {});
  }

  /** End the ride under way without waiting for its call (it is left as it is on the server). */
  abort(): void {
    this.finish({ outcome: 'aborted', call: this.current });
  }

  close(): void {
    this.closed = true;
    this.abort();
    this.client?.close();
  }

  private onStatus(call: Call): void {
    if (this.current?.id === call.id) this.apply(call);
    else if (this.early && !this.current) this.early.push({ call, at: performance.now() });
  }

  /** Take a newer state of the current call; drop stale ones. */
  private apply(call: Call, at = performance.now()): void {
    const cur = this.current;
    if (cur && (cur.id !== call.id || call.seq <= cur.seq)) return;
    this.current = call;
    if (TRIP_STATUSES.includes(call.status) || call.status === 'completed') {
      if (call.driverId && this.assigned && this.assigned !== call.driverId) this.emit('doubleDriver', this, call, this.assigned);
      if (call.driverId) this.assigned = call.driverId;
    } else if (call.status === 'offered') {
      this.assigned = null; // the driver backed out; another may take the call
    }
    this.emit('status', this, call, at);
    if (isTerminal(call.status)) this.finish({ outcome: 'final', call });
  }

  private async reread(callId: string): Promise<void> {
    const res = await (this.client as DispatchClient).request('call:get', { callId });
    if (res.ok) this.apply(res.data);
  }

  private finish(r: RideResult): void {
    const f = this.finished;
    this.finished = undefined;
    f?.(r);
  }

  private emit<K extends keyof RiderObserver>(name: K, ...args: Parameters<NonNullable<RiderObserver[K]>>): void {
    for (const o of this.observers) (o[name] as ((...a: typeof args) => void) | undefined)?.(...args);
  }
}
