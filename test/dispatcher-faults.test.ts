/**
 * The seed's fault isolation: riders can call while no dispatcher runs, and a dispatcher killed
 * with kill -9 mid-work loses nothing: every call is still offered, the ledger is complete and has
 * no duplicates.
 */
import { expect } from 'chai';
import { Queue } from 'bullmq';
import type { Call, Offer } from '../protocol/index.js';
import { QUEUE } from '../server/redis/keys.js';
import { connect, DROPOFF, PICKUP, placeAt, type TestClient } from './support/clients.js';
import { freePort } from './support/env.js';
import { ledgerMismatch } from './support/ledger.js';
import { spawnNode, startStack, type NodeProcess, type Stack } from './support/stack.js';
import { until } from './support/wait.js';

describe('dispatcher down, killed and restarted', function () {
  this.timeout(120000);
  let stack: Stack;
  let queue: Queue;
  const clients: TestClient[] = [];
  const procs: NodeProcess[] = [];

  beforeEach(async () => {
    // Short lock and claim times so a killed dispatcher's work is taken over quickly.
    stack = await startStack({ gateways: 2, dispatchers: 0, env: { JOB_LOCK_MS: 1000, LEDGER_CLAIM_IDLE_MS: 500, OFFER_WAVE_SIZE: 5, OFFER_TIMEOUT_MS: 60000 } });
    queue = new Queue(QUEUE.dispatch, { connection: stack.redis.duplicate(), prefix: stack.env.KEY_PREFIX });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const p of procs.splice(0)) await p.kill9();
    await queue.close();
    await stack.stop();
  });

  const dispatcher = async () => {
    const p = await spawnNode('dispatcher', stack.env, await freePort());
    procs.push(p);
    return p;
  };

  /** One free driver at each place, and a rider per call requesting there. */
  async function requestCalls(tag: string, n: number): Promise<{ calls: Call[]; drivers: TestClient[] }> {
    const drivers = await Promise.all(Array.from({ length: n }, (_, i) => connect(stack.gateways[i % 2]!.url, `${tag}-d${i}`, 'driver')));
    clients.push(...drivers);
    await Promise.all(drivers.map((d, i) => d.emit('driver:online', placeAt(i))));
    const calls = await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        const r = await connect(stack.gateways[(i + 1) % 2]!.url, `${tag}-r${i}`, 'passenger');
        clients.push(r);
        const res = await r.emit<Call>('call:request', { requestId: tag, pickup: placeAt(i), dropoff: DROPOFF });
        if (!res.ok) throw new Error(JSON.stringify(res.error));
        return res.data;
      }),
    );
    return { calls, drivers };
  }

  const status = async (id: string) => stack.redis.hget(stack.keys.call(id), 'status');

  it('calls wait in the queue while no dispatcher runs and are offered once one starts', async () => {
    const { calls, drivers } = await requestCalls('down', 10);
    const counts = await queue.getJobCounts('waiting', 'active');
    expect(counts.waiting).to.equal(10);
    for (const c of calls) expect(await status(c.id)).to.equal('requested');

    await dispatcher();
    await Promise.all(drivers.map((d, i) => d.next('offer', (o: { callId: string }) => o.callId === calls[i]!.id, 20000)));
    for (const c of calls) expect(await status(c.id)).to.equal('offered');
    await until(async () => (await ledgerMismatch(stack.env.DB_PATH!, stack.redis, stack.keys, calls.map((c) => c.id))) === null, 'the ledger to hold every call', 20000, 100);
  });

  it('a dispatcher killed with kill -9 mid-work: a new one offers every call and completes the ledger, without duplicates', async () => {
    const first = await dispatcher();
    const burst = requestCalls('kill', 60);
    // Kill it as soon as it has started on the burst (some jobs offered, others not yet).
    await until(async () => ((await queue.getJobCounts('completed')).completed ?? 0) > 0, 'the first dispatcher to start working', 20000, 5);
    await first.kill9();
    const { calls, drivers } = await burst;

    // Calls keep coming while it is down.
    const more = await requestCalls('after', 5);
    for (const c of more.calls) expect(await status(c.id)).to.equal('requested');

    await dispatcher();
    const all = [...calls, ...more.calls];
    const allDrivers = [...drivers, ...more.drivers];
    await Promise.all(allDrivers.map((d, i) => d.next('offer', (o: { callId: string }) => o.callId === all[i]!.id, 30000)));
    for (const c of all) expect(await status(c.id)).to.equal('offered');
    // No driver was offered the same call twice. (A job re-run after the crash may push the same
    // offer again — same call, same expiry — which clients drop as a repeat.)
    for (const d of allDrivers) {
      const offers = d.all<{ callId: string; expiresAt: number }>('offer');
      const calls = new Set(offers.map((o) => o.callId));
      expect(new Set(offers.map((o) => `${o.callId}@${o.expiresAt}`)).size).to.equal(calls.size);
    }
    await until(async () => (await ledgerMismatch(stack.env.DB_PATH!, stack.redis, stack.keys, all.map((c) => c.id))) === null, 'the ledger to hold every call exactly once', 30000, 100);
  });

  it('a dispatcher killed with kill -9 mid-round: every call at a station is still dispatched, none lost, none twice', async () => {
    // One station: every call in one region, so rounds carry many calls at once.
    const first = await dispatcher();
    const spot = (i: number) => ({ lat: PICKUP.lat + ((i % 7) - 3) * 0.0007, lng: PICKUP.lng + (Math.floor(i / 7) - 3) * 0.0007 });
    const drivers = await Promise.all(Array.from({ length: 40 }, (_, i) => connect(stack.gateways[i % 2]!.url, `st-d${i}`, 'driver')));
    clients.push(...drivers);
    for (const d of drivers) d.socket.on('offer', (o: Offer) => void d.emit('offer:accept', { callId: o.callId }));
    await Promise.all(drivers.map((d, i) => d.emit('driver:online', spot(i))));
    const riders = await Promise.all(Array.from({ length: 40 }, (_, i) => connect(stack.gateways[(i + 1) % 2]!.url, `st-r${i}`, 'passenger')));
    clients.push(...riders);
    const requests = Promise.all(riders.map(async (r) => {
      const res = await r.emit<Call>('call:request', { requestId: 'st', pickup: PICKUP, dropoff: DROPOFF });
      if (!res.ok) throw new Error(JSON.stringify(res.error));
      return res.data;
    }));
    // Kill it as soon as a round is under way (or has just pushed its first offer).
    await until(async () => drivers.some((d) => d.all('offer').length > 0) || (await queue.getJobs(['active'])).some((j) => j.name === 'round'),
      'a round to start', 20000, 2);
    await first.kill9();
    const calls = await requests;
    await dispatcher();

    await until(async () => {
      const statuses = await Promise.all(calls.map((c) => status(c.id)));
      return statuses.every((x) => x === 'dispatched');
    }, 'every call to be dispatched', 60000, 100);
    const winners = await Promise.all(calls.map(async (c) => (JSON.parse((await stack.redis.hget(stack.keys.call(c.id), 'json'))!) as Call).driverId));
    expect(new Set(winners).size, 'one driver per call').to.equal(calls.length);
    // The status is in Redis before the accept's push reaches the rider: wait for every push, then count them.
    const dispatchedPushes = (r: TestClient) => r.all<Call>('call:status').filter((c) => c.status === 'dispatched');
    await until(() => riders.every((r) => dispatchedPushes(r).length > 0) || undefined, 'every rider to be pushed `dispatched`', 15000, 20);
    for (const r of riders) expect(dispatchedPushes(r), r.id).to.have.length(1);
    await until(async () => (await ledgerMismatch(stack.env.DB_PATH!, stack.redis, stack.keys, calls.map((c) => c.id))) === null, 'the ledger to hold every call exactly once', 30000, 100);
  });
});
