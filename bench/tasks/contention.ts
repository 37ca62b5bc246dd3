/**
 * Contention (in a load worker): groups of `driversPerCall` drivers, each group far from the others,
 * every group with one rider calling again and again. Every call is offered to the whole group
 * (OFFER_WAVE_SIZE = driversPerCall) and every driver accepts the moment its offer arrives, so all
 * of them race for it. Checked per call: exactly one accept wins, every other gets
 * ALREADY_DISPATCHED, and the rider is told the winner. The winner then runs the trip to the end so
 * the whole group races again for the next call.
 */
import { randomUUID } from 'node:crypto';
import { pool } from '../../clients/cli/async.js';
import { offset, randomPointWithin } from '../../clients/cli/geo.js';
import { Latency, type Percentiles } from '../../clients/cli/report.js';
import { DEFAULT_CENTER } from '../../clients/cli/sim/load.js';
import { ErrorTally } from '../../clients/cli/sim/socket.js';
import { signToken } from '../../clients/cli/token.js';
import { connectClient, type DispatchClient } from '../../server/devkit/client.js';
import type { Call, LatLng, UserRole } from '../../protocol/index.js';
import type { TaskContext } from '../lib/ipc.js';

export interface ContentionArgs {
  urls: string[];
  secret: string;
  groups: number;
  callsPerGroup: number;
  driversPerCall: number;
  /** Groups this far apart (well beyond MATCH_RADIUS_M); drivers within `radiusM` of their group's centre. */
  spacingM?: number;
  radiusM?: number;
  near?: LatLng;
}

export interface ContentionResult {
  calls: number;
  /** Calls whose race ended with exactly one winner, every other accept ALREADY_DISPATCHED, the rider told the winner. */
  exactlyOne: number;
  noWinner: number;
  severalWinners: number;
  /** The rider was told a driver other than the one whose accept won. */
  riderMismatch: number;
  /** Calls not settled in time (no offer, acks missing). */
  incomplete: number;
  /** Offers received per call (min, mean): each should be driversPerCall. */
  offersPerCall: { min: number; mean: number };
  accepts: number;
  /** Answers of the losing accepts by code (ALREADY_DISPATCHED expected). */
  loserCodes: Record<string, number>;
  /** offer:accept sent → its ack, every accept (winners and losers). */
  acceptAckMs: Percentiles;
  winnerAckMs: Percentiles;
  /** call:request sent → the rider told `dispatched`. */
  requestToDispatchedMs: Percentiles;
  connectS: number;
  elapsedS: number;
  errors: Record<string, number>;
}

interface Race {
  offers: number;
  acks: number;
  winners: string[];
  /** Losing answers other than ALREADY_DISPATCHED. */
  others: number;
}

const CALL_DEADLINE_MS = 20_000;

export async function contention(a: ContentionArgs, ctx: TaskContext): Promise<ContentionResult> {
  const run = randomUUID().slice(0, 6);
  const center = a.near ?? DEFAULT_CENTER;
  const spacing = a.spacingM ?? 40_000;
  const errors = new ErrorTally();
  const loserCodes = new ErrorTally();
  const acceptAck = new Latency();
  const winnerAck = new Latency();
  const reqToDispatched = new Latency();
  const races = new Map<string, Race>();
  const clients: DispatchClient[] = [];
  let urlIndex = 0;
  const nextUrl = () => a.urls[urlIndex++ % a.urls.length] as string;
  /** A connected user on the next gateway; a fresh token for every (re)connect. */
  const open = async (id: string, role: UserRole) => {
    const client = await connectClient(nextUrl(), { token: () => signToken(a.secret, id, role, '1h') }).catch((err: unknown) => {
      throw new Error(`${id}: could not connect: ${err instanceof Error ? err.message : String(err)}`);
    });
    clients.push(client);
    return client;
  };
  const result = {
    calls: 0, exactlyOne: 0, noWinner: 0, severalWinners: 0, riderMismatch: 0, incomplete: 0, accepts: 0,
  };
  const offerCounts: number[] = [];

  const race = (callId: string): Race => {
    let r = races.get(callId);
    if (!r) {
      r = { offers: 0, acks: 0, winners: [], others: 0 };
      races.set(callId, r);
    }
    return r;
  };

  // Drivers: accept every offer at once.
  interface Driver { id: string; client: DispatchClient; at: LatLng }
  const groups = Array.from({ length: a.groups }, (_, g) => ({ g, center: offset(center, 0, g * spacing), drivers: [] as Driver[] }));
  const t0 = performance.now();
  const all = groups.flatMap((grp) => Array.from({ length: a.driversPerCall }, (_, k) => ({ grp, k })));
  const made = await pool(all, 100, async ({ grp, k }) => {
    const id = `ct-${run}-g${grp.g}-d${k}`;
    const client = await open(id, 'driver');
    const at = randomPointWithin(grp.center, a.radiusM ?? 300);
    const d: Driver = { id, client, at };
    client.on('offer', (offer) => {
      const r = race(offer.callId);
      r.offers++;
      const sentAt = performance.now();
      result.accepts++;
      void client.request('offer:accept', { callId: offer.callId }).then((res) => {
        const ms = performance.now() - sentAt;
        acceptAck.record(ms);
        if (res.ok) {
          winnerAck.record(ms);
          r.winners.push(id);
        } else {
          loserCodes.add(res.error.code);
          if (res.error.code !== 'ALREADY_DISPATCHED') r.others++;
        }
        r.acks++;
      });
    });
    const res = await client.request('driver:online', at);
    if (!res.ok) throw new Error(`${id}: driver:online ${res.error.code}`);
    grp.drivers.push(d);
  });
  const failedDrivers = made.filter((m) => m.status === 'rejected');
  if (failedDrivers.length) {
    for (const c of clients) c.close();
    const why = failedDrivers[0]?.status === 'rejected' ? String(failedDrivers[0].reason) : '';
    throw new Error(`${failedDrivers.length} contention drivers could not go online: ${why}`);
  }

  // Riders: one per group, one call at a time.
  const riders = await Promise.all(groups.map(async (grp) => {
    const id = `ct-${run}-g${grp.g}-r`;
    return { grp, client: await open(id, 'passenger') };
  }));
  const connectS = (performance.now() - t0) / 1000;
  const started = performance.now();

  try {
    await Promise.all(riders.map(async (rider) => {
      // One call at a time: the `dispatched` push (which may beat the request's ack) is this call's.
      let onDispatched: ((c: Call) => void) | undefined;
      rider.client.on('call:status', (c) => {
        if (c.status === 'dispatched' && c.driverId) onDispatched?.(c);
      });
      for (let n = 0; n < a.callsPerGroup && !ctx.signal.aborted; n++) {
        result.calls++;
        const pickup = rider.grp.center;
        let callId: string | undefined = undefined;
        let dispatchedTo: string | undefined;
        const sentAt = performance.now();
        const dispatched = new Promise<void>((resolve) => {
          onDispatched = (c) => {
            if (dispatchedTo !== undefined || (callId !== undefined && c.id !== callId)) return;
            dispatchedTo = c.driverId ?? undefined;
            reqToDispatched.record(performance.now() - sentAt);
            resolve();
          };
        });
        const req = await rider.client.request('call:request', { requestId: randomUUID(), pickup, dropoff: offset(pickup, 1000, 0) });
        if (!req.ok) {
          errors.add(`call:request:${req.error.code}`);
          result.incomplete++;
          continue;
        }
        callId = req.data.id;
        const r = race(callId);
        // Every offer answered (or the deadline), and the rider told.
        const deadline = performance.now() + CALL_DEADLINE_MS;
        const answered = async () => {
          while ((r.offers < a.driversPerCall || r.acks < r.offers) && performance.now() < deadline) await sleep(2);
        };
        await within(Promise.all([answered(), dispatched]), CALL_DEADLINE_MS);
        onDispatched = undefined;
        offerCounts.push(r.offers);
        const complete = r.offers >= a.driversPerCall && r.acks >= r.offers && dispatchedTo !== undefined;
        if (!complete) result.incomplete++;
        if (r.winners.length === 1) {
          if (complete && r.others === 0) result.exactlyOne++;
          if (dispatchedTo !== undefined && dispatchedTo !== r.winners[0]) result.riderMismatch++;
        } else if (r.winners.length === 0) {
          result.noWinner++;
        } else {
          result.severalWinners++;
        }
        // The winner drives the trip to the end: free again, where it was, for the next race.
        const winner = rider.grp.drivers.find((d) => d.id === r.winners[0]);
        if (winner) {
          for (const event of ['trip:arrived', 'trip:start', 'trip:complete'] as const) {
            const res = await winner.client.request(event, { callId });
            if (!res.ok) {
              errors.add(`${event}:${res.error.code}`);
              break;
            }
          }
        }
        races.delete(callId);
      }
    }));
  } finally {
    await Promise.all(groups.flatMap((grp) => grp.drivers.map((d) => d.client.request('driver:offline', {}, { timeoutMs: 5000 }))));
    for (const c of clients) c.close();
  }
  const elapsedS = (performance.now() - started) / 1000;
  return {
    ...result,
    offersPerCall: {
      min: offerCounts.length ? Math.min(...offerCounts) : 0,
      mean: offerCounts.length ? Math.round((offerCounts.reduce((x, y) => x + y, 0) / offerCounts.length) * 10) / 10 : 0,
    },
    loserCodes: loserCodes.toObject(),
    acceptAckMs: acceptAck.summary(),
    winnerAckMs: winnerAck.summary(),
    requestToDispatchedMs: reqToDispatched.summary(),
    connectS: Math.round(connectS * 10) / 10,
    elapsedS: Math.round(elapsedS * 10) / 10,
    errors: errors.toObject(),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => {
    t = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(t);
  }
}
