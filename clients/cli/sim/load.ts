/**
 * The whole loop under load in one process: simulated drivers and riders, calls at a steady total
 * rate, a bounded drain, and a report measured at the clients (latencies, errors, invariants).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import {
  isTerminal, TRIP_STATUSES, type CallStatus, type LatLng,
} from '../../../protocol/index.js';
import { DEV_JWT_SECRET } from '../../../server/config.js';
import { pool } from '../async.js';
import { randomPointWithin } from '../geo.js';
import { DEFAULT_URL, RoundRobin } from '../options.js';
import { Latency, type LoadReport } from '../report.js';
import type { DriverObserver } from './driver.js';
import { DriverFleet } from './fleet.js';
import { SimRider, type RiderObserver } from './rider.js';
import { ErrorTally } from './socket.js';

/** Seoul City Hall. */
export const DEFAULT_CENTER: LatLng = { lat: 37.5663, lng: 126.9779 };

export interface LoadOptions {
  /** Gateways; clients are spread round-robin. Default http://127.0.0.1:3000. */
  urls?: string[];
  /** HS256 secret for the tokens. Default the development secret. */
  secret?: string;
  drivers: number;
  riders: number;
  /** Calls per second, over all riders. */
  rate: number;
  durationS: number;
  /** Drivers and pickups are within `spreadM` metres of this. Default Seoul City Hall, 2000 m. */
  near?: LatLng;
  spreadM?: number;
  /** Default 1. */
  acceptRate?: number;
  /** Default 0-50 ms. */
  acceptDelayMs?: readonly [number, number];
  /** Default 500 ms. */
  tripMs?: number;
  /** After the run, how long to wait at most for calls still under way. Default 30000 ms. */
  drainMs?: number;
  /** Drivers' position reports (ms). Default 3000. */
  locationEveryMs?: number;
  /** Called a few times a second with where the run is. */
  onProgress?: (p: LoadProgress) => void;
  /** Aborting stops new calls at once (the drain follows). */
  signal?: AbortSignal;
  /** Aborting ends the drain at once. */
  drainSignal?: AbortSignal;
  /** Told each broken invariant as it is seen (which call, which drivers). */
  onViolation?: (what: string) => void;
}

export interface LoadProgress {
  phase: 'connecting' | 'running' | 'draining' | 'stopping';
  elapsedMs: number;
  durationMs: number;
  driversOnline: number;
  requested: number;
  dispatched: number;
  completed: number;
  unfulfilled: number;
  failed: number;
  /** Calls requested and not yet ended (or failed). */
  outstanding: number;
}

interface CallRecord {
  sentAt: number;
  callId?: string;
  failed?: boolean;
  /** When the rider first saw the call with a driver, and which. */
  dispatchedAt?: number;
  driverId?: string;
  final?: CallStatus;
}

/** Run a load test against running gateways and resolve with its report. */
export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const o = {
    urls: [DEFAULT_URL], secret: DEV_JWT_SECRET, near: DEFAULT_CENTER, spreadM: 2000, acceptRate: 1,
    acceptDelayMs: [0, 50] as const, tripMs: 500, drainMs: 30_000, locationEveryMs: 3000, ...options,
  };
  if (!(o.drivers >= 1 && o.riders >= 1 && o.rate > 0 && o.durationS > 0)) throw new Error('drivers, riders, rate and duration must be positive');
  const run = randomBytes(3).toString('hex');
  const urls = new RoundRobin(o.urls);

  // What the clients saw.
  const records: CallRecord[] = [];
  const byRider = new Map<string, CallRecord>();
  const byCall = new Map<string, CallRecord>();
  const firstOffer = new Map<string, number>();
  const acceptSentAt = new Map<string, Map<string, number>>();
  const acceptedBy = new Map<string, Set<string>>();
  const doubles = new Set<string>();
  /** One count per call (or per driver and call) whatever the number of ways it shows. */
  const double = (key: string, what: string) => {
    if (doubles.has(key)) return;
    doubles.add(key);
    o.onViolation?.(what);
  };
  const riderErrors = new ErrorTally();
  const counts = { dispatched: 0, completed: 0, unfulfilled: 0, failed: 0, settled: 0 };

  const driverSide: DriverObserver = {
    offer: (_d, offer, at) => {
      if (!firstOffer.has(offer.callId)) firstOffer.set(offer.callId, at);
    },
    acceptSent: (d, callId, at) => {
      const m = acceptSentAt.get(callId) ?? new Map<string, number>();
      if (!m.has(d.id)) m.set(d.id, at);
      acceptSentAt.set(callId, m);
    },
    accepted: (d, call) => {
      const s = acceptedBy.get(call.id) ?? new Set<string>();
      s.add(d.id);
      acceptedBy.set(call.id, s);
      if (s.size > 1) double(`call:${call.id}`, `call ${call.id} accepted by ${[...s].join(', ')}`);
    },
    doubleTrip: (d, held, callId) => double(`driver:${d.id}:${callId}`, `driver ${d.id} holds ${held} and ${callId}`),
  };
  const riderSide: RiderObserver = {
    requestSent: (r, _requestId, at) => {
      const rec: CallRecord = { sentAt: at };
      records.push(rec);
      byRider.set(r.id, rec);
    },
    requestAcked: (r, res) => {
      const rec = byRider.get(r.id);
      if (!rec) return;
      if (res.ok) {
        rec.callId = res.data.id;
        byCall.set(res.data.id, rec);
      } else {
        rec.failed = true;
        counts.failed++;
        counts.settled++;
      }
    },
    status: (_r, call, at) => {
      const rec = byCall.get(call.id);
      if (!rec) return;
      if (rec.dispatchedAt === undefined && call.driverId && (TRIP_STATUSES.includes(call.status) || call.status === 'completed')) {
        rec.dispatchedAt = at;
        rec.driverId = call.driverId;
        counts.dispatched++;
      }
      if (isTerminal(call.status) && !rec.final) {
        rec.final = call.status;
        counts.settled++;
        if (call.status === 'completed') counts.completed++;
        if (call.status === 'unfulfilled') counts.unfulfilled++;
      }
    },
    doubleDriver: (_r, call, previous) => double(`call:${call.id}`, `call ${call.id}: rider told ${previous}, then ${call.driverId}`),
    error: (_r, _event, err) => riderErrors.add(err.code),
  };

  const fleet = new DriverFleet(
    {
      count: o.drivers, prefix: `load-${run}-d`, urls, secret: o.secret, home: o.near, spreadM: o.spreadM,
      acceptRate: o.acceptRate, acceptDelayMs: o.acceptDelayMs, tripMs: o.tripMs, locationEveryMs: o.locationEveryMs,
    },
    driverSide,
  );
  const riders = Array.from({ length: o.riders }, (_, j) => new SimRider({ id: `load-${run}-r-${j + 1}`, url: urls.next(), secret: o.secret }, riderSide));

  const durationMs = o.durationS * 1000;
  let phase: LoadProgress['phase'] = 'connecting';
  let startedAt = performance.now();
  const progress = (): LoadProgress => ({
    phase,
    elapsedMs: phase === 'connecting' ? 0 : performance.now() - startedAt,
    durationMs,
    driversOnline: fleet.online,
    requested: records.length,
    dispatched: counts.dispatched,
    completed: counts.completed,
    unfulfilled: counts.unfulfilled,
    failed: counts.failed,
    outstanding: records.length - counts.settled,
  });
  const ticker = o.onProgress ? setInterval(() => o.onProgress?.(progress()), 200) : undefined;
  const rides: Promise<unknown>[] = [];

  try {
    const started = await fleet.start();
    if (started.online === 0) throw new Error(`no driver could go online: ${started.failures[0] ?? 'unknown'}`);
    const connects = await pool(riders, 50, (r) => r.connect());
    const idle = riders.filter((_, j) => connects[j]?.status === 'fulfilled');
    if (idle.length === 0) {
      const why = connects.find((c) => c.status === 'rejected');
      throw new Error(`no rider could connect: ${why?.status === 'rejected' ? String(why.reason) : 'unknown'}`);
    }
    for (let j = 0; j < riders.length - idle.length; j++) riderErrors.add('CONNECT_FAILED');

    // Calls at a steady total rate: call k is due at k / rate s; each needs an idle rider.
    phase = 'running';
    startedAt = performance.now();
    let issued = 0;
    let running = true;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const elapsed = performance.now() - startedAt;
        if (elapsed >= durationMs || o.signal?.aborted) {
          running = false;
          resolve();
          return;
        }
        const due = Math.min(Math.floor((o.rate * elapsed) / 1000) + 1, Math.ceil(o.rate * o.durationS)) - issued;
        for (let k = 0; k < due && idle.length > 0; k++) {
          const rider = idle.shift() as SimRider;
          issued++;
          const ride = rider.ride(randomPointWithin(o.near, o.spreadM), randomPointWithin(o.near, o.spreadM)).then(() => {
            if (running) idle.push(rider);
          });
          rides.push(ride);
        }
        setTimeout(tick, 5);
      };
      tick();
    });

    // Drain: wait (bounded) for every call under way to end.
    phase = 'draining';
    const drainUntil = performance.now() + o.drainMs;
    while (records.length - counts.settled > 0 && performance.now() < drainUntil && !o.drainSignal?.aborted) {
      await new Promise((r) => setTimeout(r, 50));
    }
    phase = 'stopping';
    return report();
  } finally {
    phase = 'stopping';
    // Leave the server clean: cancel calls still open, then every driver signs off.
    await Promise.all(riders.map(async (r) => {
      if (r.current && !isTerminal(r.current.status) && r.connected) await r.cancel('load test over');
      r.close();
    }));
    await Promise.allSettled(rides);
    await fleet.stop();
    if (ticker) clearInterval(ticker);
  }

  function report(): LoadReport {
    const requestToOffer = new Latency();
    const acceptToRider = new Latency();
    const requestToDispatched = new Latency();
    let lost = 0;
    let dispatched = 0;
    for (const rec of records) {
      if (!rec.callId) continue;
      const offeredAt = firstOffer.get(rec.callId);
      if (offeredAt !== undefined) requestToOffer.record(offeredAt - rec.sentAt);
      const reachedDriver = rec.dispatchedAt !== undefined || acceptedBy.has(rec.callId);
      if (reachedDriver) dispatched++;
      if (rec.dispatchedAt !== undefined) {
        requestToDispatched.record(rec.dispatchedAt - rec.sentAt);
        const acceptAt = rec.driverId ? acceptSentAt.get(rec.callId)?.get(rec.driverId) : undefined;
        if (acceptAt !== undefined) acceptToRider.record(Math.max(0, rec.dispatchedAt - acceptAt));
      }
      if (!reachedDriver && !rec.final) lost++;
    }
    const errors = new ErrorTally();
    errors.merge(fleet.errors);
    errors.merge(riderErrors);
    return {
      calls: { requested: records.length, dispatched, completed: counts.completed, unfulfilled: counts.unfulfilled, failed: counts.failed },
      latencyMs: { requestToOffer: requestToOffer.summary(), acceptToRider: acceptToRider.summary(), requestToDispatched: requestToDispatched.summary() },
      errors: errors.toObject(),
      invariants: { doubleAssignments: doubles.size, lostCalls: lost },
    };
  }
}
