/**
 * Drivers of the matching scenarios (issue 11), in a load worker: `count` drivers online at random
 * points within `radiusM` of `center`, never moving (the server frees a driver where it went
 * online). Each answers an offer after `answerDelayMs` (0 = at once, while still free and the offer
 * live) by accepting it, except the `silentShare` who never answer; a won trip is run straight
 * through (arrived, start, complete). Counted at the drivers: offers, revocations by reason, the
 * distance of each won offer, the waves a won call needed (its offers' distinct `expiresAt`: one
 * wave's offers share it) and the most live offers one driver held at once.
 */
import { pool } from '../../clients/cli/async.js';
import { randomPointWithin } from '../../clients/cli/geo.js';
import { randomIn } from '../../clients/cli/options.js';
import { ErrorTally } from '../../clients/cli/sim/socket.js';
import { signToken } from '../../clients/cli/token.js';
import { connectClient, type DispatchClient } from '../../server/devkit/client.js';
import type { LatLng, Offer } from '../../protocol/index.js';
import type { TaskContext } from '../lib/ipc.js';

export interface MatchDriversArgs {
  urls: string[];
  secret: string;
  /** Driver ids are `<prefix>-<i>`. */
  prefix: string;
  count: number;
  center: LatLng;
  radiusM: number;
  /** Each offer is answered after a uniform random delay in this range (ms). */
  answerDelayMs: [number, number];
  /** This share of the drivers never answers an offer. */
  silentShare: number;
}

export interface MatchDriversResult {
  online: number;
  offers: number;
  revoked: Record<string, number>;
  accepts: number;
  won: number;
  /** Answers of the accepts that lost, by code. */
  acceptErrors: Record<string, number>;
  tripErrors: Record<string, number>;
  /** Sum of `distanceM` over the offers whose accept won (m). */
  wonDistanceM: number;
  /** Distinct offer waves (distinct `expiresAt`) summed over the calls won. */
  wavesOfWonCalls: number;
  /** The most offers one driver held live at once (received, and not yet revoked, expired or answered by its accept's ack). */
  maxLiveOffers: number;
  /** A driver won a call while on another trip (must be 0). */
  doubleTrips: number;
}

interface Driver {
  id: string;
  client: DispatchClient;
  silent: boolean;
  /** The trip under way (it ends when its trip:complete is acked). */
  trip: Promise<void> | null;
  /** Live offers: callId → expiresAt. */
  live: Map<string, number>;
}

export async function matchDrivers(a: MatchDriversArgs, ctx: TaskContext): Promise<MatchDriversResult> {
  const r = { offers: 0, accepts: 0, won: 0, wonDistanceM: 0, wavesOfWonCalls: 0, maxLiveOffers: 0, doubleTrips: 0 };
  const revoked = new ErrorTally();
  const acceptErrors = new ErrorTally();
  const tripErrors = new ErrorTally();
  /** Every call offered: the distinct expiresAt of its offers (its waves). */
  const waves = new Map<string, Set<number>>();
  const inflight = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  };
  const timers = new Set<NodeJS.Timeout>();
  let stopping = false;

  const accept = async (d: Driver, offer: Offer) => {
    // The server frees a driver when it completes a trip, so the next offer can beat the ack of
    // trip:complete: it is answered once the trip is over, if still live.
    while (d.trip) await d.trip;
    if (stopping || !d.live.has(offer.callId) || Date.now() >= offer.expiresAt) return;
    r.accepts++;
    const res = await d.client.request('offer:accept', { callId: offer.callId });
    // The answer ends this offer (won or lost); until then it counts as live.
    d.live.delete(offer.callId);
    if (!res.ok) {
      acceptErrors.add(res.error.code);
      return;
    }
    if (d.trip) {
      r.doubleTrips++;
      return;
    }
    r.won++;
    r.wonDistanceM += offer.distanceM;
    r.wavesOfWonCalls += waves.get(offer.callId)?.size ?? 1;
    d.trip = runTrip(d, offer.callId);
    await d.trip;
    d.trip = null;
  };

  const runTrip = async (d: Driver, callId: string) => {
    for (const event of ['trip:arrived', 'trip:start', 'trip:complete'] as const) {
      const step = await d.client.request(event, { callId });
      if (!step.ok) {
        tripErrors.add(`${event}:${step.error.code}`);
        break;
      }
    }
  };

  const onOffer = (d: Driver, offer: Offer) => {
    r.offers++;
    const w = waves.get(offer.callId) ?? new Set<number>();
    w.add(offer.expiresAt);
    waves.set(offer.callId, w);
    const now = Date.now();
    for (const [callId, until] of d.live) if (until <= now) d.live.delete(callId);
    d.live.set(offer.callId, offer.expiresAt);
    r.maxLiveOffers = Math.max(r.maxLiveOffers, d.live.size);
    if (d.silent) return;
    const delay = randomIn(a.answerDelayMs);
    if (delay <= 0) {
      track(accept(d, offer));
      return;
    }
    const t = setTimeout(() => {
      timers.delete(t);
      if (d.live.has(offer.callId)) track(accept(d, offer));
    }, delay);
    timers.add(t);
  };

  const silentEvery = a.silentShare > 0 ? 1 / a.silentShare : Infinity;
  const drivers: Driver[] = [];
  let next = 0;
  const made = await pool(Array.from({ length: a.count }, (_, i) => i), 100, async (i) => {
    const id = `${a.prefix}-${i + 1}`;
    const client = await connectClient(a.urls[next++ % a.urls.length] as string, { token: () => signToken(a.secret, id, 'driver', '1h') });
    // Spread evenly: every (1 / silentShare)-th driver is silent.
    const d: Driver = { id, client, silent: Math.floor((i + 1) / silentEvery) > Math.floor(i / silentEvery), trip: null, live: new Map() };
    client.on('offer', (offer) => onOffer(d, offer));
    client.on('offer:revoked', (rv) => {
      d.live.delete(rv.callId);
      revoked.add(rv.reason);
    });
    drivers.push(d);
    // The profile fields of issue 11 (a server without them drops them: its schemas strip unknown keys).
    const online = { ...randomPointWithin(a.center, a.radiusM), name: `Driver ${i + 1}`, vehicle: { class: 'standard', plate: `B ${1000 + i}`, model: 'Sonata', colour: 'white' } };
    const res = await client.request('driver:online', online);
    if (!res.ok) throw new Error(`${id}: driver:online ${res.error.code} ${res.error.message}`);
  });
  const failed = made.find((m) => m.status === 'rejected');
  const close = () => {
    for (const d of drivers) d.client.close();
  };
  if (failed) {
    close();
    throw new Error(`${made.filter((m) => m.status === 'rejected').length} drivers could not go online: ${String(failed.reason)}`);
  }
  ctx.emit('ready', { online: drivers.length });
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  stopping = true;
  for (const t of timers) clearTimeout(t);
  await Promise.allSettled([...inflight]);
  await pool(drivers, 100, (d) => d.client.request('driver:offline', {}, { timeoutMs: 5000 }));
  close();
  return {
    online: drivers.length, ...r, revoked: revoked.toObject(), acceptErrors: acceptErrors.toObject(), tripErrors: tripErrors.toObject(),
  };
}
