/**
 * Matching under the shapes users live with, as correctness tests (no timing asserts): rounds of
 * neighbouring regions on several dispatchers, a station where everyone calls from one point, and
 * vehicle classes in both strategies. The guarantees are read from Redis in one atomic snapshot
 * after every step (test/support/invariants.ts).
 */
import { expect } from 'chai';
import type { Call, Offer } from '../protocol/index.js';
import { connect, DROPOFF, PICKUP, rest, type TestClient } from './support/clients.js';
import { matchingViolations } from './support/invariants.js';
import { startStack, type Stack } from './support/stack.js';
import { mulberry32 } from './support/prng.js';

type Answer = 'accept' | 'reject' | 'ignore';

/** A point `north` and `east` metres from `base`. */
const offset = (north: number, east: number, base = PICKUP) => ({
  lat: base.lat + north / 111_000,
  lng: base.lng + east / (111_000 * Math.cos((base.lat * Math.PI) / 180)),
});


interface Ride {
  stack: Stack;
  cap: number;
  drivers: { lat: number; lng: number }[];
  pickups: { lat: number; lng: number }[];
  /** Calls each rider makes in turn (request, wait for the end, request again). */
  callsEach: number;
  answer: () => Answer;
}

/**
 * Drivers answer each offer as `answer` says (accepting, a winner runs its trip straight through);
 * riders call in a closed loop. The invariants are checked after every step any client takes.
 * Resolves with every call made, once each has ended.
 */
async function ride(r: Ride): Promise<{ calls: Call[]; drivers: TestClient[]; violations: string[] }> {
  const { stack } = r;
  const violations: string[] = [];
  const check = async (after: string) => {
    for (const v of await matchingViolations(stack.redis, stack.env.KEY_PREFIX!, r.cap)) violations.push(`${v} (after ${after})`);
  };
  const drivers = await Promise.all(r.drivers.map((_, i) => connect(stack.gateways[i % 2]!.url, `d${i}`, 'driver')));
  const trip = async (d: TestClient, callId: string) => {
    for (const step of ['trip:arrived', 'trip:start', 'trip:complete'] as const) {
      const res = await d.emit(step, { callId });
      await check(`${d.id} ${step}`);
      if (!res.ok) throw new Error(`${d.id} ${step}: ${JSON.stringify(res.error)}`);
    }
  };
  const work: Promise<unknown>[] = [];
  drivers.forEach((d) =>
    d.socket.on('offer', (o: Offer) => {
      const a = r.answer();
      if (a === 'ignore') return;
      work.push((async () => {
        const res = await d.emit<Call>(a === 'accept' ? 'offer:accept' : 'offer:reject', { callId: o.callId });
        await check(`${d.id} ${a} ${o.callId}`);
        if (a === 'accept' && res.ok) await trip(d, o.callId);
      })().catch((err: Error) => {
        // A driver that cannot go on would leave its rider waiting: fail with the reason.
        violations.push(err.message);
        throw err;
      }));
    }),
  );
  await Promise.all(drivers.map(async (d, i) => {
    expect((await d.emit('driver:online', r.drivers[i])).ok).to.equal(true);
    await check(`${d.id} online`);
  }));

  const calls: Call[] = [];
  const riders = await Promise.all(r.pickups.map((_, i) => connect(stack.gateways[(i + 1) % 2]!.url, `r${i}`, 'passenger')));
  await Promise.all(riders.map(async (rider, i) => {
    for (let n = 0; n < r.callsEach; n++) {
      const res = await rider.emit<Call>('call:request', { requestId: `q${n}`, pickup: r.pickups[i], dropoff: DROPOFF });
      await check(`${rider.id} request`);
      if (!res.ok) throw new Error(`${rider.id} request: ${JSON.stringify(res.error)}`);
      calls.push(res.data);
      await rider.next<Call>('call:status', (c) => c.id === res.data.id && (c.status === 'completed' || c.status === 'unfulfilled'), 60000)
        .catch(async (err: Error) => {
          throw new Error(`${err.message}\n${violations.join('\n')}\n${JSON.stringify(await stateOf(stack, res.data.id), null, 1)}`);
        });
    }
  }));
  await Promise.all(work);
  await check('the end');
  for (const c of [...drivers, ...riders]) c.close();
  return { calls, drivers, violations };
}

/** What Redis holds of a call and its region, for a failure's message. */
async function stateOf(stack: Stack, callId: string): Promise<unknown> {
  const { redis, keys } = stack;
  const call = await redis.hgetall(keys.call(callId));
  const region = call.region ?? '';
  return {
    call, offers: await redis.hgetall(keys.callOffers(callId)),
    ready: await redis.zscore(keys.regionReady(region), callId), readyCount: await redis.zcard(keys.regionReady(region)),
    scheduled: await redis.zscore(keys.regions, region), lease: await redis.get(keys.regionLease(region)),
    waiting: await redis.zscore(keys.waitingCalls, `standard:${callId}`),
    timers: (await redis.zrange(keys.callTimers, 0, -1, 'WITHSCORES')).filter((_, i, a) => (a[i - (i % 2)] ?? '').startsWith(callId)),
    now: Date.now(),
    free: await redis.zrange(keys.freeDrivers, 0, -1),
  };
}

/** No driver was pushed the same call twice (a re-run may push the same offer again: same expiry). */
function noCallOfferedTwice(drivers: TestClient[]): void {
  for (const d of drivers) {
    const offers = d.all<Offer>('offer');
    expect(new Set(offers.map((o) => `${o.callId}@${o.expiresAt}`)).size, d.id).to.equal(new Set(offers.map((o) => o.callId)).size);
  }
}

async function finalStatuses(stack: Stack, calls: Call[]): Promise<string[]> {
  return Promise.all(calls.map(async (c) => (await stack.redis.hget(stack.keys.call(c.id), 'status')) ?? 'gone'));
}

describe('matching', function () {
  this.timeout(180000);
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  for (const cap of [1, 2]) {
    it(`neighbouring regions' rounds on three dispatchers share drivers: never over the cap (${cap}), never a call twice to a driver, nothing stranded`, async () => {
      // Small regions (H3 resolution 9, ~170 m) and a radius across many of them: rounds of
      // neighbouring regions run at once and compete for the same drivers.
      stack = await startStack({
        gateways: 2, dispatchers: 3,
        env: { MATCH_REGION_RESOLUTION: 9, MATCH_RADIUS_M: 1500, OFFER_TIMEOUT_MS: 1500, MAX_OFFERS_PER_DRIVER: cap, CALL_TIMEOUT_MS: 120000, RATE_LIMIT_PER_S: 0 },
      });
      const rand = mulberry32(cap);
      const spot = () => offset(rand() * 1000 - 500, rand() * 1000 - 500);
      const { calls, drivers, violations } = await ride({
        stack, cap, callsEach: 2,
        drivers: Array.from({ length: 20 }, spot),
        pickups: Array.from({ length: 30 }, spot),
        answer: () => {
          const x = rand();
          return x < 0.45 ? 'accept' : x < 0.75 ? 'reject' : 'ignore';
        },
      });
      expect(violations).to.deep.equal([]);
      noCallOfferedTwice(drivers);
      const regions = new Set(await Promise.all(calls.map((c) => stack!.redis.hget(stack!.keys.call(c.id), 'region'))));
      expect(regions.size, 'calls in several regions').to.be.greaterThan(3);
      expect(await finalStatuses(stack, calls)).to.satisfy((s: string[]) => s.every((x) => x === 'completed'));
    });
  }

  it('a station: 60 riders at one point, 80 drivers within 800 m accepting at once: every call dispatched, one live offer per driver, no double assignment', async () => {
    stack = await startStack({ gateways: 2, dispatchers: 1, env: { OFFER_TIMEOUT_MS: 60000 } });
    const rand = mulberry32(7);
    const { calls, drivers, violations } = await ride({
      stack, cap: 1, callsEach: 3,
      drivers: Array.from({ length: 80 }, () => {
        const r = 800 * Math.sqrt(rand());
        const a = 2 * Math.PI * rand();
        return offset(r * Math.cos(a), r * Math.sin(a));
      }),
      pickups: Array.from({ length: 60 }, () => offset(rand() * 30, rand() * 30)),
      answer: () => 'accept',
    });
    expect(violations).to.deep.equal([]);
    noCallOfferedTwice(drivers);
    expect(calls).to.have.length(180);
    expect(new Set(await finalStatuses(stack, calls))).to.deep.equal(new Set(['completed']));
    // Offers are exclusive: nobody lost a call it was offered to a driver who won another (`busy`).
    for (const d of drivers) expect(d.all<{ reason: string }>('offer:revoked').filter((x) => x.reason === 'busy'), d.id).to.deep.equal([]);
  });

  for (const strategy of ['batched', 'greedy'] as const) {
    it(`vehicle classes (${strategy}): only drivers of the call's class are offered it; the dispatched call carries the driver's profile and a pickup estimate`, async () => {
      stack = await startStack({ gateways: 2, dispatchers: 1, env: { MATCH_STRATEGY: strategy, OFFER_TIMEOUT_MS: 60000, OFFER_WAVE_SIZE: 5 } });
      const at = offset(0, 0);
      const std = await connect(stack.gateways[0]!.url, 'std', 'driver');
      const big = await connect(stack.gateways[1]!.url, 'big', 'driver');
      const old = await connect(stack.gateways[0]!.url, 'old', 'driver');
      expect((await std.emit('driver:online', { ...offset(100, 0), name: 'Lee', vehicle: { class: 'standard', plate: '34나5678', model: 'Sonata', colour: 'white' } })).ok).to.equal(true);
      expect((await big.emit('driver:online', { ...offset(50, 0), vehicle: { class: 'large', plate: '12가3456' } })).ok).to.equal(true);
      // A driver on the old payload: the default class, no profile.
      expect((await old.emit('driver:online', offset(300, 0))).ok).to.equal(true);
      const bad = await big.emit('driver:online', { ...offset(50, 0), vehicle: { class: 'spaceship' } });
      expect(!bad.ok && bad.error.code).to.equal('VALIDATION_FAILED');

      const rider = await connect(stack.gateways[1]!.url, 'rider', 'passenger');
      const unknown = await rider.emit('call:request', { requestId: 'x', pickup: at, dropoff: DROPOFF, vehicleClass: 'spaceship' });
      expect(!unknown.ok && unknown.error.code).to.equal('VALIDATION_FAILED');
      const large = await rider.emit<Call>('call:request', { requestId: 'l', pickup: at, dropoff: DROPOFF, vehicleClass: 'large' });
      if (!large.ok) throw new Error(JSON.stringify(large.error));
      expect(large.data.vehicleClass).to.equal('large');
      const offer = await big.next<Offer>('offer', (o) => o.callId === large.data.id);
      expect(offer.vehicleClass).to.equal('large');
      const won = await big.emit<Call>('offer:accept', { callId: large.data.id });
      if (!won.ok) throw new Error(JSON.stringify(won.error));
      expect(won.data.driverProfile).to.deep.equal({ vehicle: { class: 'large', plate: '12가3456' } });
      expect(won.data.pickupEstimate).to.deep.equal({ distanceM: offer.distanceM, etaS: Math.ceil(offer.distanceM / (25 / 3.6)), method: 'straight-line' });
      expect(await rider.next<Call>('call:status', (c) => c.id === large.data.id && c.status === 'dispatched')).to.deep.equal(won.data);
      for (const step of ['trip:arrived', 'trip:start', 'trip:complete']) expect((await big.emit(step, { callId: large.data.id })).ok).to.equal(true);

      // A call asking for nothing is a standard call: the large van is nearest but never offered it.
      const plain = await rest(stack.gateways[0]!.url, 'POST', '/api/calls', { id: 'rider', role: 'passenger' }, { requestId: 'p', pickup: at, dropoff: DROPOFF });
      expect(plain.status).to.equal(201);
      const plainId = (plain.body as Call).id;
      expect((plain.body as Call).vehicleClass).to.equal('standard');
      await std.next<Offer>('offer', (o) => o.callId === plainId);
      await old.next<Offer>('offer', (o) => o.callId === plainId);
      const won2 = await std.emit<Call>('offer:accept', { callId: plainId });
      if (!won2.ok) throw new Error(JSON.stringify(won2.error));
      expect(won2.data.driverProfile).to.deep.equal({ name: 'Lee', vehicle: { class: 'standard', plate: '34나5678', model: 'Sonata', colour: 'white' } });
      expect(big.all<Offer>('offer').map((o) => o.callId)).to.deep.equal([large.data.id]);
      expect(std.all<Offer>('offer').map((o) => o.callId)).to.deep.equal([plainId]);
      // Backing out takes the profile and estimate off the call.
      const out = await std.emit<Call>('trip:cancel', { callId: plainId });
      if (!out.ok) throw new Error(JSON.stringify(out.error));
      expect(out.data).to.not.have.property('driverProfile');
      expect(out.data).to.not.have.property('pickupEstimate');
      for (const c of [std, big, old, rider]) c.close();
    });
  }
});
