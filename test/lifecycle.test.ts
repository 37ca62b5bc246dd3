/**
 * The whole life of a call: offer waves and timeouts, reject, waiting for drivers, unfulfilled,
 * cancel, the trip, backing out, locations, the grace period. Riders and drivers on different
 * gateways, a separate dispatcher, short timers through configuration.
 */
import { expect } from 'chai';
import { Queue } from 'bullmq';
import type { Call, DriverLocationPush, Offer, OfferRevoked } from '../protocol/index.js';
import { clock } from '../server/context.js';
import { loadConfig } from '../server/config.js';
import { makeCommands, matchSettings } from '../server/redis/commands.js';
import { regionOf, regionResolution } from '../server/region.js';
import { QUEUE, waitingMember } from '../server/redis/keys.js';
import { connect, DROPOFF, placeAt, rest, type TestClient } from './support/clients.js';
import { freePort } from './support/env.js';
import { spawnNode, startStack, type NodeProcess, type Stack } from './support/stack.js';
import { until } from './support/wait.js';

/** The command layer on the stack's own Redis client, to run one step as a dying gateway would (matching settings unused). */
const commandsOf = (s: Stack) => makeCommands(s.redis, s.keys, matchSettings(loadConfig({})));
const forCall = (id: string) => (o: { callId: string }) => o.callId === id;
const withStatus = (id: string, status: string) => (c: Call) => c.id === id && c.status === status;

describe('call lifecycle', function () {
  this.timeout(60000);
  let stack: Stack;
  const clients: TestClient[] = [];
  let n = 0;

  /** A driver on gateway `node`, online `metres` north of the scenario's place. */
  async function driver(place: { lat: number; lng: number }, metres: number, node = 1): Promise<TestClient> {
    const d = await connect(stack.gateways[node]!.url, `d${++n}`, 'driver');
    clients.push(d);
    const res = await d.emit('driver:online', { lat: place.lat + metres / 111_000, lng: place.lng });
    expect(res.ok, JSON.stringify(res)).to.equal(true);
    return d;
  }
  async function rider(node = 0): Promise<TestClient> {
    const r = await connect(stack.gateways[node]!.url, `r${++n}`, 'passenger');
    clients.push(r);
    return r;
  }
  async function request(r: TestClient, place: { lat: number; lng: number }): Promise<Call> {
    const res = await r.emit<Call>('call:request', { requestId: `q${++n}`, pickup: place, dropoff: DROPOFF });
    if (!res.ok) throw new Error(JSON.stringify(res.error));
    return res.data;
  }
  async function ok<T>(c: TestClient, event: string, payload: unknown): Promise<T> {
    const res = await c.emit<T>(event, payload);
    if (!res.ok) throw new Error(`${event}: ${JSON.stringify(res.error)}`);
    return res.data;
  }
  async function code(c: TestClient, event: string, payload: unknown): Promise<string> {
    const res = await c.emit(event, payload);
    return res.ok ? 'ok' : res.error.code;
  }
  const stored = async (id: string) => JSON.parse((await stack.redis.hget(stack.keys.call(id), 'json')) as string) as Call;
  const isFree = async (driverId: string) => (await stack.redis.zscore(stack.keys.freeDrivers, driverId)) !== null;

  /** A call dispatched to `d` (the only driver near a fresh place). */
  async function dispatchedTo(place: { lat: number; lng: number }): Promise<{ d: TestClient; r: TestClient; call: Call }> {
    const d = await driver(place, 100);
    const r = await rider();
    const call = await request(r, place);
    await d.next('offer', forCall(call.id));
    const won = await ok<Call>(d, 'offer:accept', { callId: call.id });
    return { d, r, call: won };
  }

  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await stack.stop();
  });

  describe('with short offer timeouts', () => {
    beforeEach(async () => {
      stack = await startStack({ env: { OFFER_TIMEOUT_MS: 700, OFFER_WAVE_SIZE: 2, CALL_TIMEOUT_MS: 60000, MATCH_RADIUS_M: 3000 } });
    });

    it('expired offers are revoked and the next wave goes to the next nearest drivers', async () => {
      const place = placeAt(1);
      const [d1, d2, d3, d4, d5] = [await driver(place, 100), await driver(place, 200), await driver(place, 300), await driver(place, 400), await driver(place, 500)];
      const r = await rider();
      const call = await request(r, place);
      await d1.next('offer', forCall(call.id));
      await d2.next('offer', forCall(call.id));
      // Wave 2 goes out when wave 1 has expired.
      await d3.next('offer', forCall(call.id));
      await d4.next('offer', forCall(call.id));
      for (const d of [d1, d2]) expect(await d.next<OfferRevoked>('offer:revoked', forCall(call.id))).to.deep.equal({ callId: call.id, reason: 'expired' });
      expect(await code(d1, 'offer:accept', { callId: call.id })).to.equal('OFFER_EXPIRED');
      // Wave 3 reaches d5, then nobody is left: the call keeps waiting as `offered`.
      await d5.next('offer', forCall(call.id));
      await d5.next('offer:revoked', forCall(call.id));
      expect((await stored(call.id)).status).to.equal('offered');
      for (const d of [d1, d2, d3, d4, d5]) expect(d.all<Offer>('offer').filter(forCall(call.id))).to.have.length(1);
      expect(r.all<Call>('call:status').map((c) => c.status)).to.deep.equal(['requested', 'offered']);
    });

    it('a call with no free driver in range waits and is offered as soon as one goes online nearby', async () => {
      const place = placeAt(2);
      const r = await rider();
      const call = await request(r, place);
      await until(async () => (await stack.redis.zscore(stack.keys.waitingCalls, waitingMember(call.id, 'standard'))) !== null, 'the call to wait for a driver');
      expect((await stored(call.id)).status).to.equal('requested');
      const d = await driver(place, 300);
      expect((await d.next<Offer>('offer', forCall(call.id))).distanceM).to.be.within(250, 350);
      await r.next('call:status', withStatus(call.id, 'offered'));
    });

    it('a wave timer of an older wave never moves a newer wave', async () => {
      const place = placeAt(3);
      const d1 = await driver(place, 100);
      const r = await rider();
      const call = await request(r, place);
      await d1.next('offer', forCall(call.id));
      await d1.next('offer:revoked', forCall(call.id)); // wave 1 expired, nobody else: waiting
      const d2 = await driver(place, 200);
      const offer2 = await d2.next<Offer>('offer', forCall(call.id));
      expect(await stack.redis.hget(stack.keys.call(call.id), 'wave')).to.equal('2');
      const queue = new Queue(QUEUE.dispatch, { connection: stack.redis.duplicate(), prefix: stack.env.KEY_PREFIX });
      try {
        const stale = await queue.add('wave', { callId: call.id, wave: 1 }, { jobId: `${call.id}-stale` });
        await until(async () => (await stale.getState()) === 'completed', 'the stale timer to run');
        expect(await stale.getState()).to.equal('completed');
        expect(await stack.redis.hget(stack.keys.call(call.id), 'wave')).to.equal('2');
        expect(await stack.redis.hget(stack.keys.callOffers(call.id), d2.id)).to.equal(String(offer2.expiresAt));
      } finally {
        await queue.close();
      }
      expect(await ok<Call>(d2, 'offer:accept', { callId: call.id })).to.include({ status: 'dispatched', driverId: d2.id });
    });
  });

  describe('with long offer timeouts', () => {
    beforeEach(async () => {
      stack = await startStack({ env: { OFFER_TIMEOUT_MS: 60000, OFFER_WAVE_SIZE: 1, CALL_TIMEOUT_MS: 60000, MATCH_RADIUS_M: 3000 } });
    });

    it('a reject moves on at once, without waiting for the timeout; reject of a call never offered is NOT_OFFERED', async () => {
      const place = placeAt(4);
      const d1 = await driver(place, 100);
      const d2 = await driver(place, 200, 0);
      const r = await rider();
      const call = await request(r, place);
      await d1.next('offer', forCall(call.id));
      expect(await code(d2, 'offer:reject', { callId: call.id })).to.equal('NOT_OFFERED');
      expect(await ok(d1, 'offer:reject', { callId: call.id })).to.deep.equal({});
      await d2.next('offer', forCall(call.id)); // long before the 60 s offer timeout
      expect(await code(d1, 'offer:accept', { callId: call.id })).to.equal('OFFER_EXPIRED');
      expect(await ok<Call>(d2, 'offer:accept', { callId: call.id })).to.include({ driverId: d2.id });
    });

    it('a driver who completes a trip is offered the call waiting nearby', async () => {
      const place = placeAt(5);
      const { d, call } = await dispatchedTo(place);
      const r2 = await rider(1);
      const waiting = await request(r2, place);
      await until(async () => (await stack.redis.zscore(stack.keys.waitingCalls, waitingMember(waiting.id, 'standard'))) !== null, 'the second call to wait');
      await ok(d, 'trip:arrived', { callId: call.id });
      await ok(d, 'trip:start', { callId: call.id });
      const done = await ok<Call>(d, 'trip:complete', { callId: call.id });
      expect(done).to.include({ status: 'completed', driverId: d.id });
      await d.next('offer', forCall(waiting.id));
    });

    it('the trip runs arrived → in_progress → completed by its driver only, in order; completing frees the driver', async () => {
      const place = placeAt(6);
      const { d, r, call } = await dispatchedTo(place);
      const other = await driver(placeAt(7), 100);
      expect(await code(other, 'trip:arrived', { callId: call.id })).to.equal('FORBIDDEN');
      expect(await code(r, 'trip:arrived', { callId: call.id })).to.equal('FORBIDDEN');
      expect(await code(d, 'trip:start', { callId: call.id })).to.equal('INVALID_STATE');
      expect(await code(d, 'trip:complete', { callId: call.id })).to.equal('INVALID_STATE');
      expect(await ok<Call>(d, 'trip:arrived', { callId: call.id })).to.include({ status: 'arrived', seq: 4 });
      expect(await code(d, 'trip:arrived', { callId: call.id })).to.equal('INVALID_STATE');
      expect(await ok<Call>(d, 'trip:start', { callId: call.id })).to.include({ status: 'in_progress', seq: 5 });
      expect(await code(r, 'call:cancel', { callId: call.id })).to.equal('INVALID_STATE');
      expect(await code(d, 'trip:cancel', { callId: call.id })).to.equal('INVALID_STATE');
      expect(await isFree(d.id)).to.equal(false);
      await ok(d, 'driver:location', { lat: place.lat + 0.01, lng: place.lng });
      expect(await ok<Call>(d, 'trip:complete', { callId: call.id })).to.include({ status: 'completed', seq: 6 });

      // Rider and driver were told every step, in order.
      const riderSaw = r.all<Call>('call:status').filter((c) => c.id === call.id).map((c) => c.status);
      await r.next('call:status', withStatus(call.id, 'completed'));
      await d.next('trip:status', withStatus(call.id, 'completed'));
      expect(r.all<Call>('call:status').filter((c) => c.id === call.id).map((c) => c.seq)).to.deep.equal([1, 2, 3, 4, 5, 6]);
      expect(riderSaw[0]).to.equal('requested');
      expect(d.all<Call>('trip:status').filter((c) => c.id === call.id).map((c) => c.status)).to.deep.equal(['dispatched', 'arrived', 'in_progress', 'completed']);

      // Free again, at its last location; the rider may call again.
      expect(await isFree(d.id)).to.equal(true);
      const [pos] = await stack.redis.geopos(stack.keys.freeDrivers, d.id);
      expect(Number(pos![1])).to.be.closeTo(place.lat + 0.01, 1e-4);
      expect(await ok(r, 'call:active', {})).to.deep.equal([]);
      await request(r, placeAt(30));
    });

    it('a call won in its first wave leaves no timer behind (its wave timer is removed, no call timeout was needed)', async () => {
      const { call } = await dispatchedTo(placeAt(18));
      const queue = new Queue(QUEUE.dispatch, { connection: stack.redis.duplicate(), prefix: stack.env.KEY_PREFIX });
      try {
        await until(
          async () => (await queue.getJobs(['delayed', 'waiting', 'active', 'prioritized'])).every((j) => !j.id?.startsWith(call.id)),
          `every timer of ${call.id} to be gone`,
        );
      } finally {
        await queue.close();
      }
      expect((await stored(call.id)).status).to.equal('dispatched');
      expect(await stack.redis.zrange(stack.keys.callTimers, 0, -1)).to.not.include(`${call.id}:1`);
    });

    it('a call whose match job never ran to the end is matched by the safety timer its request left', async () => {
      // The request script alone, as if the gateway died before queueing the match job.
      const place = placeAt(20);
      const d = await driver(place, 100);
      const r = await rider();
      const id = `lost-${++n}`;
      const created = await commandsOf(stack).request({
        callId: id, passengerId: r.id, requestId: id, pickup: place, dropoff: DROPOFF, now: clock(), requestTtlMs: 60_000, safetyTimerMs: 50,
        region: regionOf(place, regionResolution(loadConfig({}))), vehicleClass: 'standard',
      });
      expect(created.created).to.equal(true);
      await d.next<Offer>('offer', forCall(id));
      await r.next<Call>('call:status', withStatus(id, 'offered'));
    });

    it('a back-out whose gateway dies before queueing the re-match still re-opens the call (its script left a timer due now)', async () => {
      const place = placeAt(21);
      const { d, r, call } = await dispatchedTo(place);
      const other = await driver(place, 300, 0);
      const out = await commandsOf(stack).tripCancel({ callId: call.id, driverId: d.id, now: clock() });
      expect(out.call).to.include({ status: 'offered', driverId: null });
      await other.next<Offer>('offer', forCall(call.id));
      // The push of `offered` died with the gateway; the rider reads the call as it is.
      expect(await ok<Call>(r, 'call:get', { callId: call.id })).to.include({ status: 'offered', driverId: null });
    });

    it('a driver backs out: the call is offered again to others, never to that driver, and the driver is free', async () => {
      const place = placeAt(8);
      const { d, r, call } = await dispatchedTo(place);
      await ok(d, 'trip:arrived', { callId: call.id });
      const backed = await ok<Call>(d, 'trip:cancel', { callId: call.id, reason: 'flat tyre' });
      expect(backed).to.include({ status: 'offered', driverId: null, seq: 5 });
      expect(await d.next<Call>('trip:status', (c) => c.id === call.id && c.status === 'offered')).to.deep.equal(backed);
      await r.next('call:status', (c: Call) => c.id === call.id && c.seq === 5);
      expect(await isFree(d.id)).to.equal(true);
      const d2 = await driver(place, 150, 0);
      await d2.next('offer', forCall(call.id));
      expect(d.all<Offer>('offer').filter(forCall(call.id))).to.have.length(1);
      expect(await ok<Call>(d2, 'offer:accept', { callId: call.id })).to.include({ status: 'dispatched', driverId: d2.id, seq: 6 });
    });

    it('cancel from requested, offered, dispatched and arrived; offers revoked, driver told and freed; later accepts CALL_CANCELLED', async () => {
      // requested (no driver around)
      const r1 = await rider();
      const c1 = await request(r1, placeAt(9));
      expect(await ok<Call>(r1, 'call:cancel', { callId: c1.id, reason: 'changed my mind' })).to.include({ status: 'cancelled', cancelReason: 'changed my mind' });
      expect(await code(r1, 'call:cancel', { callId: c1.id })).to.equal('INVALID_STATE');
      expect(await ok(r1, 'call:active', {})).to.deep.equal([]);

      // offered
      const place = placeAt(10);
      const d = await driver(place, 100);
      const r2 = await rider(1);
      const c2 = await request(r2, place);
      await d.next('offer', forCall(c2.id));
      const someoneElse = await rider();
      expect(await code(someoneElse, 'call:cancel', { callId: c2.id })).to.equal('FORBIDDEN');
      expect(await code(d, 'call:cancel', { callId: c2.id })).to.equal('FORBIDDEN');
      await ok(r2, 'call:cancel', { callId: c2.id });
      expect(await d.next<OfferRevoked>('offer:revoked', forCall(c2.id))).to.deep.equal({ callId: c2.id, reason: 'cancelled' });
      // A cancelled call keeps no timer (the requested one's safety timer, the offered one's wave timer).
      const timers = await stack.redis.zrange(stack.keys.callTimers, 0, -1);
      expect(timers.filter((m) => m.startsWith(`${c1.id}:`) || m.startsWith(`${c2.id}:`))).to.deep.equal([]);
      expect(await code(d, 'offer:accept', { callId: c2.id })).to.equal('CALL_CANCELLED');

      // dispatched, cancelled over REST by the passenger
      const { d: d3, r: r3, call: c3 } = await dispatchedTo(placeAt(11));
      const res = await rest(stack.gateways[0]!.url, 'POST', `/api/calls/${c3.id}/cancel`, { id: r3.id, role: 'passenger' }, { reason: 'late' });
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ status: 'cancelled', driverId: d3.id, cancelReason: 'late' });
      expect((await d3.next<Call>('trip:status', withStatus(c3.id, 'cancelled'))).cancelReason).to.equal('late');
      expect(await isFree(d3.id)).to.equal(true);
      expect(await code(d3, 'trip:arrived', { callId: c3.id })).to.equal('CALL_CANCELLED');
      const again = await rest(stack.gateways[1]!.url, 'POST', `/api/calls/${c3.id}/cancel`, { id: r3.id, role: 'passenger' }, {});
      expect([again.status, again.body.error?.code]).to.deep.equal([409, 'INVALID_STATE']);

      // arrived, cancelled by an admin
      const { d: d4, call: c4 } = await dispatchedTo(placeAt(12));
      await ok(d4, 'trip:arrived', { callId: c4.id });
      const byAdmin = await rest(stack.gateways[1]!.url, 'POST', `/api/calls/${c4.id}/cancel`, { id: 'ops', role: 'admin' }, {});
      expect([byAdmin.status, byAdmin.body.status]).to.deep.equal([200, 'cancelled']);
      await d4.next('trip:status', withStatus(c4.id, 'cancelled'));
      expect(await isFree(d4.id)).to.equal(true);
    });

    it('the rider receives the driver\'s location during the trip, at most once a second', async () => {
      const place = placeAt(13);
      const { d, r, call } = await dispatchedTo(place);
      for (let i = 1; i <= 5; i++) await ok(d, 'driver:location', { lat: place.lat + i * 0.0001, lng: place.lng });
      // Pushes from one node arrive in order: once `arrived` is seen, any location push before it is too.
      await ok(d, 'trip:arrived', { callId: call.id });
      await r.next('call:status', withStatus(call.id, 'arrived'));
      const pushes = r.all<DriverLocationPush>('driver:location');
      expect(pushes).to.have.length(1);
      expect(pushes[0]).to.include({ callId: call.id, lat: place.lat + 0.0001, lng: place.lng });
      expect(Date.parse(pushes[0]!.at)).to.be.a('number').and.not.NaN;
    });
  });

  describe('timeouts and grace', () => {
    beforeEach(async () => {
      stack = await startStack({ env: { OFFER_TIMEOUT_MS: 60000, OFFER_WAVE_SIZE: 2, CALL_TIMEOUT_MS: 1500, DRIVER_GRACE_MS: 800, MATCH_RADIUS_M: 3000 } });
    });

    it('with no accept by CALL_TIMEOUT_MS the call ends unfulfilled; the rider is told and offers are revoked', async () => {
      const place = placeAt(14);
      const d = await driver(place, 100);
      const r = await rider();
      const call = await request(r, place);
      await d.next('offer', forCall(call.id));
      const ended = await r.next<Call>('call:status', withStatus(call.id, 'unfulfilled'));
      expect(ended.seq).to.equal(3);
      expect(await d.next<OfferRevoked>('offer:revoked', forCall(call.id))).to.deep.equal({ callId: call.id, reason: 'expired' });
      expect(await code(d, 'offer:accept', { callId: call.id })).to.equal('OFFER_EXPIRED');
      expect(await code(r, 'call:cancel', { callId: call.id })).to.equal('INVALID_STATE');
      expect(await ok(r, 'call:active', {})).to.deep.equal([]);
    });

    it('a driver who backs out after the deadline re-opens the call with a deadline of its own: offered again, then unfulfilled', async () => {
      const place = placeAt(19);
      const { d, r, call } = await dispatchedTo(place);
      const firstDeadline = Number(await stack.redis.hget(stack.keys.call(call.id), 'deadline'));
      expect(firstDeadline).to.be.greaterThan(Date.parse(call.createdAt));
      await until(() => Date.now() > firstDeadline + 100, 'the first deadline to pass (the trip goes on)', 5000, 50);
      expect((await stored(call.id)).status).to.equal('dispatched');
      const other = await driver(place, 300, 0);
      await ok(d, 'trip:cancel', { callId: call.id });
      await other.next('offer', forCall(call.id));
      const ended = await r.next<Call>('call:status', withStatus(call.id, 'unfulfilled'));
      expect(Date.parse(ended.updatedAt)).to.be.greaterThan(firstDeadline + 1000);
      expect(await other.next<OfferRevoked>('offer:revoked', forCall(call.id))).to.deep.equal({ callId: call.id, reason: 'expired' });
    });

    it('a disconnected driver stays dispatchable during the grace period, then goes offline; reconnecting keeps it', async () => {
      const place = placeAt(15);
      const gone = await driver(place, 100);
      const back = await driver(place, 200, 0);
      gone.close();
      back.close();
      const again = await connect(stack.gateways[1]!.url, back.id, 'driver');
      clients.push(again);
      await until(async () => !(await isFree(gone.id)), 'the disconnected driver to go offline after its grace', 10000);
      expect(await stack.redis.hget(stack.keys.driver(gone.id), 'status')).to.equal('offline');
      // The reconnected driver's grace timer, if its disconnect started one, has run too: it stays available.
      const queue = new Queue(QUEUE.dispatch, { connection: stack.redis.duplicate(), prefix: stack.env.KEY_PREFIX });
      try {
        await until(async () => (await queue.getJobs(['delayed', 'waiting', 'active'])).every((j) => j.name !== 'grace'), 'every grace timer to run');
      } finally {
        await queue.close();
      }
      expect(await isFree(again.id)).to.equal(true);
      const r = await rider();
      const call = await request(r, place);
      await again.next('offer', forCall(call.id));
    });

    it('a driver on a trip stays on it past the grace period', async () => {
      const { d, call } = await dispatchedTo(placeAt(16));
      d.close();
      await until(async () => (await stack.redis.hget(stack.keys.driver(d.id), 'offlineAfterTrip')) === '1', 'the grace timer to run');
      expect(await stack.redis.hget(stack.keys.driver(d.id), 'status')).to.equal('busy');
      expect((await stored(call.id)).status).to.equal('dispatched');
    });
  });

  describe('timers survive a dispatcher crash', () => {
    let procs: NodeProcess[] = [];
    beforeEach(async () => {
      stack = await startStack({ dispatchers: 0, env: { OFFER_TIMEOUT_MS: 1500, OFFER_WAVE_SIZE: 1, CALL_TIMEOUT_MS: 60000, MATCH_RADIUS_M: 3000, JOB_LOCK_MS: 1000 } });
    });
    afterEach(async () => {
      for (const p of procs) await p.kill9();
      procs = [];
    });

    it('kill -9 the dispatcher in the middle of a wave: after restart the call moves on, never offered twice to one driver', async () => {
      const place = placeAt(17);
      const first = await spawnNode('dispatcher', stack.env, await freePort());
      procs.push(first);
      const d1 = await driver(place, 100);
      const d2 = await driver(place, 200, 0);
      const r = await rider();
      const call = await request(r, place);
      await d1.next('offer', forCall(call.id));
      await first.kill9();
      procs.push(await spawnNode('dispatcher', stack.env, await freePort()));
      expect(await d1.next<OfferRevoked>('offer:revoked', forCall(call.id))).to.deep.equal({ callId: call.id, reason: 'expired' });
      await d2.next('offer', forCall(call.id));
      expect(await ok<Call>(d2, 'offer:accept', { callId: call.id })).to.include({ status: 'dispatched', driverId: d2.id });
      expect(d1.all<Offer>('offer').filter(forCall(call.id))).to.have.length(1);
      expect(d2.all<Offer>('offer').filter(forCall(call.id))).to.have.length(1);
    });
  });
});
