/**
 * Riders of the matching scenarios (issue 11), in a load worker. Pickups are random points within
 * `pickupRadiusM` of `center`. Two shapes:
 * - `closed`: every rider in a loop (request, wait `dispatched`, wait `completed`, request again)
 *   for `warmupS` + `durationS`; the calls requested after the warm-up are measured, and the
 *   dispatches seen in that window give the rate.
 * - `paced`: open loop (bench/lib/pace.ts, `rate` mode): `rate` requests a second for `durationS`,
 *   each by a rider of its own, each waited for until `dispatched`. A burst is a short pace.
 * Events: 'measuring' when the measured window opens, 'measured' when it closes (the bench reads
 * the CPU in between).
 */
import { randomUUID } from 'node:crypto';
import { pool } from '../../clients/cli/async.js';
import { offset, randomPointWithin } from '../../clients/cli/geo.js';
import { Latency, type Percentiles } from '../../clients/cli/report.js';
import { ErrorTally } from '../../clients/cli/sim/socket.js';
import { signToken } from '../../clients/cli/token.js';
import { connectClient, type DispatchClient } from '../../server/devkit/client.js';
import { isTerminal, TRIP_STATUSES, type Call, type LatLng } from '../../protocol/index.js';
import type { TaskContext } from '../lib/ipc.js';
import { drive } from '../lib/pace.js';

export type RiderShape =
  | { kind: 'closed'; warmupS: number; durationS: number }
  | { kind: 'paced'; rate: number; durationS: number };

export interface MatchRidersArgs {
  urls: string[];
  secret: string;
  prefix: string;
  /** Riders (paced: at least rate × durationS, one request each). */
  count: number;
  center: LatLng;
  pickupRadiusM: number;
  shape: RiderShape;
  /** A call not dispatched (closed: not ended) this long after its request is cancelled and counted stuck (paced: at most 15 s). */
  callDeadlineMs: number;
}

export interface MatchRidersResult {
  riders: number;
  connectS: number;
  /** The measured window (s) and what happened in it. */
  windowS: number;
  /** Dispatches seen in the window, and per second. */
  dispatchedInWindow: number;
  dispatchedPerS: number;
  /** The calls requested in the window, and what became of them. */
  requested: number;
  dispatched: number;
  completed: number;
  unfulfilled: number;
  failed: number;
  stuck: number;
  requestToOfferMs: Percentiles;
  requestToDispatchedMs: Percentiles;
  errors: Record<string, number>;
}

interface Ride {
  callId?: string;
  sentAt: number;
  offeredAt?: number;
  dispatchedAt?: number;
  final?: string;
  /** The last status seen. */
  last?: string;
  /** Woken on every new state. */
  wake?: () => void;
}

interface Rider {
  client: DispatchClient;
  ride: Ride | null;
  /** Ids of this rider's earlier calls (their late pushes are ignored). */
  done: Set<string>;
}

export async function matchRiders(a: MatchRidersArgs, ctx: TaskContext): Promise<MatchRidersResult> {
  const errors = new ErrorTally();
  const toOffer = new Latency();
  const toDispatched = new Latency();
  const c = { requested: 0, dispatched: 0, completed: 0, unfulfilled: 0, failed: 0, stuck: 0 };
  let windowFrom = Infinity;
  let windowTo = Infinity;
  const inWindow = (t: number) => t >= windowFrom && t < windowTo;
  let dispatchedInWindow = 0;

  const apply = (ride: Ride, call: Call, at: number) => {
    ride.last = call.status;
    if (ride.offeredAt === undefined && call.status !== 'requested') ride.offeredAt = at;
    if (ride.dispatchedAt === undefined && call.driverId && (TRIP_STATUSES.includes(call.status) || call.status === 'completed')) {
      ride.dispatchedAt = at;
      if (inWindow(at)) dispatchedInWindow++;
    }
    if (isTerminal(call.status) && !ride.final) ride.final = call.status;
    ride.wake?.();
  };

  const riders: Rider[] = [];
  let next = 0;
  const t0 = performance.now();
  const made = await pool(Array.from({ length: a.count }, (_, i) => i), 100, async (i) => {
    const id = `${a.prefix}-${i + 1}`;
    const rider: Rider = { client: undefined as unknown as DispatchClient, ride: null, done: new Set() };
    rider.client = await connectClient(a.urls[next++ % a.urls.length] as string, {
      token: () => signToken(a.secret, id, 'passenger', '1h'),
      setup: (client) => client.on('call:status', (call) => {
        const ride = rider.ride;
        if (!ride || rider.done.has(call.id) || (ride.callId !== undefined && ride.callId !== call.id)) return;
        // Before the ack, a push of an unknown call is this ride's (one call at a time).
        ride.callId = call.id;
        apply(ride, call, performance.now());
      }),
    });
    riders.push(rider);
  });
  const failedConnect = made.find((m) => m.status === 'rejected');
  if (failedConnect) {
    for (const r of riders) r.client.close();
    throw new Error(`${made.filter((m) => m.status === 'rejected').length} riders could not connect: ${String(failedConnect.reason)}`);
  }
  const connectS = (performance.now() - t0) / 1000;

  /** One call by `rider`: resolves once it is dispatched (`until` 'dispatched') or has ended, or at the deadline. */
  const call = async (rider: Rider, until: 'dispatched' | 'ended'): Promise<Ride> => {
    // Late pushes of the rider's earlier call are not this one's.
    if (rider.ride?.callId) rider.done.add(rider.ride.callId);
    const pickup = randomPointWithin(a.center, a.pickupRadiusM);
    const ride: Ride = { sentAt: performance.now() };
    rider.ride = ride;
    const measured = inWindow(ride.sentAt);
    const res = await rider.client.request('call:request', { requestId: randomUUID(), pickup, dropoff: offset(pickup, 1500, 0) });
    if (res.ok) {
      ride.callId = res.data.id;
      apply(ride, res.data, performance.now());
    } else {
      errors.add(`call:request:${res.error.code}`);
      ride.final = 'failed';
    }
    // pace.ts gives up on an operation after 15 s: a paced call's deadline comes first.
    const deadline = ride.sentAt + (a.shape.kind === 'paced' ? Math.min(a.callDeadlineMs, 14_000) : a.callDeadlineMs);
    const settled = () => ride.final !== undefined || (until === 'dispatched' && ride.dispatchedAt !== undefined);
    while (!settled() && performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - performance.now()));
        ride.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    ride.wake = undefined;
    if (!settled()) errors.add(`deadline:${ride.last ?? 'no ack'}${measured ? '' : ' (before the window)'}`);
    if (!settled() && ride.callId) {
      // Leave the server clean for the next scenario.
      const cancel = await rider.client.request('call:cancel', { callId: ride.callId, reason: 'bench: call deadline' });
      if (!cancel.ok) errors.add(`call:cancel:${cancel.error.code}`);
    }
    if (measured) {
      c.requested++;
      if (ride.final === 'failed') c.failed++;
      else if (ride.dispatchedAt === undefined && ride.final === 'unfulfilled') c.unfulfilled++;
      else if (ride.dispatchedAt === undefined) c.stuck++;
      if (ride.dispatchedAt !== undefined) c.dispatched++;
      if (ride.final === 'completed') c.completed++;
      if (ride.offeredAt !== undefined) toOffer.record(ride.offeredAt - ride.sentAt);
      if (ride.dispatchedAt !== undefined) toDispatched.record(ride.dispatchedAt - ride.sentAt);
    }
    return ride;
  };

  try {
    if (a.shape.kind === 'closed') {
      const { warmupS, durationS } = a.shape;
      const start = performance.now();
      windowFrom = start + warmupS * 1000;
      windowTo = windowFrom + durationS * 1000;
      const opened = setTimeout(() => ctx.emit('measuring'), warmupS * 1000);
      const closed = setTimeout(() => ctx.emit('measured'), (warmupS + durationS) * 1000);
      try {
        await Promise.all(riders.map(async (rider) => {
          while (performance.now() < windowTo && !ctx.signal.aborted) await call(rider, 'ended');
        }));
      } finally {
        clearTimeout(opened);
        clearTimeout(closed);
      }
      // Short runs: make sure the bench saw both events.
      ctx.emit('measuring');
      ctx.emit('measured');
    } else {
      const { rate, durationS } = a.shape;
      if (riders.length < Math.ceil(rate * durationS)) throw new Error(`paced: ${riders.length} riders for ${Math.ceil(rate * durationS)} requests`);
      windowFrom = performance.now();
      ctx.emit('measuring');
      await drive({ kind: 'rate', rate, durationS }, async (_slot, seq) => {
        const ride = await call(riders[seq] as Rider, 'dispatched');
        if (ride.dispatchedAt === undefined) throw new Error('not dispatched');
        return ride.dispatchedAt - ride.sentAt;
      }, ctx.signal);
      windowTo = performance.now();
      ctx.emit('measured');
      // The calls' trips run on: wait (bounded) until they have ended before the drivers stop.
      const until = performance.now() + 5000;
      while (riders.some((r) => r.ride && !r.ride.final && r.ride.dispatchedAt !== undefined) && performance.now() < until) await sleep(20);
      c.completed = riders.filter((r) => r.ride?.final === 'completed').length;
    }
  } finally {
    for (const r of riders) r.client.close();
  }
  const windowS = (Math.min(windowTo, performance.now()) - windowFrom) / 1000;
  return {
    riders: riders.length,
    connectS: round1(connectS),
    windowS: Math.round(windowS * 100) / 100,
    dispatchedInWindow,
    dispatchedPerS: windowS > 0 ? round1(dispatchedInWindow / windowS) : 0,
    ...c,
    requestToOfferMs: toOffer.summary(),
    requestToDispatchedMs: toDispatched.summary(),
    errors: errors.toObject(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round1 = (n: number) => Math.round(n * 10) / 10;
