/**
 * The operator levers (protocol 1.4.0) on a stack of two gateways and a separate dispatcher, on
 * both ledger backends: suspending a driver (offers revoked `cancelled`, the push, driver:online
 * refused FORBIDDEN naming the suspension, its trip left to finish, a timed suspension ending by
 * itself), lifting it, redispatching a dispatched call, an admin's cancel; every lever in the
 * ledger's admin_actions with the admin, the target, the reason and the time. Then who may pull
 * the levers and what they validate, on every new event and route.
 */
import { expect } from 'chai';
import type { App } from '../server/app.js';
import { createApp } from '../server/app.js';
import type { AdminAction, Call, Offer, OfferRevoked, UserRole } from '../protocol/index.js';
import { connect, DROPOFF, PICKUP, rest, restError, type TestClient } from './support/clients.js';
import { testConfig } from './support/env.js';
import { BACKENDS, testStore, type TestStore } from './support/ledger.js';
import { startStack, type Stack } from './support/stack.js';
import { until } from './support/wait.js';

const ADMIN = { id: 'ops-1', role: 'admin' as UserRole };
const north = (metres: number) => ({ lat: PICKUP.lat + metres / 111_000, lng: PICKUP.lng });
const forCall = (id: string) => (o: { callId: string }) => o.callId === id;

interface Harness {
  stack: () => Stack;
  clients: TestClient[];
}

function harness(h: Harness) {
  let n = 0;
  const gw = (node: number) => h.stack().gateways[node]!.url;
  const user = async (node: number, id: string, role: UserRole) => {
    const c = await connect(gw(node), id, role);
    h.clients.push(c);
    return c;
  };
  const ok = async <T>(c: TestClient, event: string, payload: unknown): Promise<T> => {
    const res = await c.emit<T>(event, payload);
    if (!res.ok) throw new Error(`${event}: ${JSON.stringify(res.error)}`);
    return res.data;
  };
  const fails = async (c: TestClient, event: string, payload: unknown) => {
    const res = await c.emit(event, payload);
    if (res.ok) throw new Error(`${event} answered ok: ${JSON.stringify(res.data)}`);
    return res.error;
  };
  const driver = async (node: number, id: string, at: { lat: number; lng: number }) => {
    const d = await user(node, id, 'driver');
    expect(await ok(d, 'driver:online', at)).to.deep.equal({ status: 'available' });
    return d;
  };
  const request = async (r: TestClient) => ok<Call>(r, 'call:request', { requestId: `q${++n}`, pickup: PICKUP, dropoff: DROPOFF });
  const isFree = async (driverId: string) => (await h.stack().redis.zscore(h.stack().keys.freeDrivers, driverId)) !== null;
  return { gw, user, ok, fails, driver, request, isFree };
}

for (const backend of BACKENDS) {
  describe(`operator levers (${backend})`, function () {
    this.timeout(60000);
    let store: TestStore;
    let stack: Stack | undefined;
    const clients: TestClient[] = [];
    const { gw, user, ok, fails, driver, request, isFree } = harness({ stack: () => stack!, clients });

    beforeEach(async () => {
      store = await testStore(backend);
      stack = await startStack({
        gateways: 2, dispatchers: 1,
        env: { ...store.env, OFFER_TIMEOUT_MS: 60000, OFFER_WAVE_SIZE: 1, CALL_TIMEOUT_MS: 60000, MATCH_RADIUS_M: 3000, RATE_LIMIT_PER_S: 0 },
      });
    });
    afterEach(async () => {
      for (const c of clients.splice(0)) c.close();
      await stack?.stop();
      stack = undefined;
      await store.drop();
    });

    it('Ledger.write takes operator levers beside call changes, each once by its stream id (a replayed batch writes nothing twice)', async () => {
      const ledger = store.open();
      const lever = {
        id: '1700000000000-0', adminId: ADMIN.id, action: 'driver.suspend', targetType: 'driver' as const, targetId: 'd-replay', reason: 'r',
        at: '2026-12-02T05:00:00.000Z', details: { until: null },
      };
      expect(await ledger.write([], [lever])).to.deep.equal([]);
      expect(await ledger.write([], [lever, { ...lever, id: '1700000000000-1', action: 'driver.lift', at: '2026-12-02T05:00:01.000Z', details: {} }])).to.deep.equal([]);
      const read = await ledger.adminActions({ targetId: 'd-replay', limit: 10 });
      expect(read.map((a) => [a.id, a.action])).to.deep.equal([['1700000000000-1', 'driver.lift'], ['1700000000000-0', 'driver.suspend']]);
      expect(read[1]).to.deep.equal(lever);
      expect(await ledger.adminActions({ limit: 1 })).to.have.length(1);
    });

    /** The admin_actions rows of a target, once `count` of them are written. */
    async function actionsOf(targetId: string, count: number): Promise<Record<string, unknown>[]> {
      return until(async () => {
        const rows = await store.query<Record<string, unknown>>(
          backend === 'sqlite'
            ? 'SELECT * FROM admin_actions WHERE target_id = ? ORDER BY at, id'
            : 'SELECT * FROM admin_actions WHERE target_id = $1 ORDER BY at, id',
          [targetId],
        ).catch(() => []);
        return rows.length >= count ? rows : undefined;
      }, `${count} admin_actions rows of ${targetId}`, 15000, 50);
    }
    const detailsOf = (row: Record<string, unknown>) => (typeof row.details === 'string' ? JSON.parse(row.details) : row.details) as Record<string, unknown>;
    const atMs = (row: Record<string, unknown>) => new Date(row.at as string | Date).getTime();

    /** A process that reads the ledger: any gateway with PostgreSQL; with SQLite one of ROLE=all. */
    async function reader(): Promise<App> {
      if (backend === 'postgres') return stack!.gateways[1]!;
      const all = await createApp(testConfig(stack!.env, 'all'));
      stack!.dispatchers.push(all);
      return all;
    }

    it('suspend a driver holding an offer: revoked `cancelled`, pushed why, refused FORBIDDEN at driver:online, the call goes to another driver; lift lets it online again', async () => {
      const before = Date.now();
      const d1 = await driver(1, 'd-near', north(100));
      const d2 = await driver(0, 'd-far', north(800));
      const admin = await user(0, ADMIN.id, 'admin');
      const rider = await user(1, 'rider-1', 'passenger');
      const call = await request(rider);
      await d1.next<Offer>('offer', forCall(call.id));

      const res = await ok<{ driverId: string; suspended: boolean; until: string | null }>(admin, 'driver:suspend', { driverId: 'd-near', reason: 'fraud check' });
      expect(res).to.deep.equal({ driverId: 'd-near', suspended: true, until: null });
      expect(await d1.next<OfferRevoked>('offer:revoked', forCall(call.id))).to.deep.equal({ callId: call.id, reason: 'cancelled' });
      expect(await d1.next('driver:suspended')).to.deep.equal({ reason: 'fraud check', until: null });
      expect(await isFree('d-near')).to.equal(false);
      const refused = await fails(d1, 'driver:online', north(100));
      expect(refused).to.deep.equal({ code: 'FORBIDDEN', message: 'driver suspended: fraud check; until lifted' });
      const overRest = await rest(gw(0), 'POST', '/api/driver/online', { id: 'd-near', role: 'driver' }, north(100));
      expect(restError(overRest, 403, 'FORBIDDEN')).to.equal('driver suspended: fraud check; until lifted');

      // A reconnecting app is told again.
      const back = await user(1, 'd-near', 'driver');
      expect(await back.next('driver:suspended')).to.deep.equal({ reason: 'fraud check', until: null });

      // The call is matched again without it: the other driver gets it and wins it.
      await d2.next<Offer>('offer', forCall(call.id));
      expect(await ok<Call>(d2, 'offer:accept', { callId: call.id })).to.include({ status: 'dispatched', driverId: 'd-far' });
      expect(d1.all<Offer>('offer').filter(forCall(call.id))).to.have.length(1);

      // Lifted over REST: pushed, and driver:online works again.
      const lifted = await rest(gw(1), 'POST', '/api/drivers/d-near/lift', ADMIN, { reason: 'cleared' });
      expect(lifted.status, JSON.stringify(lifted.body)).to.equal(200);
      expect(lifted.body).to.deep.equal({ driverId: 'd-near', suspended: false });
      expect(await d1.next('driver:lifted')).to.deep.equal({});
      expect(await ok(d1, 'driver:online', north(100))).to.deep.equal({ status: 'available' });
      expect(await isFree('d-near')).to.equal(true);

      const rows = await actionsOf('d-near', 2);
      expect(rows.map((r) => [r.action, r.admin_id, r.target_type, r.target_id, r.reason])).to.deep.equal([
        ['driver.suspend', ADMIN.id, 'driver', 'd-near', 'fraud check'],
        ['driver.lift', ADMIN.id, 'driver', 'd-near', 'cleared'],
      ]);
      expect(detailsOf(rows[0]!)).to.deep.include({ until: null });
      for (const r of rows) expect(atMs(r)).to.be.within(before - 1000, Date.now() + 1000);

      // The read route: newest first, by target.
      const read = await rest((await reader()).url, 'GET', '/api/admin/actions?target=d-near&limit=10', ADMIN);
      expect(read.status, JSON.stringify(read.body)).to.equal(200);
      const items = read.body.items as AdminAction[];
      expect(items.map((i) => i.action)).to.deep.equal(['driver.lift', 'driver.suspend']);
      expect(items[1]).to.deep.include({ adminId: ADMIN.id, targetType: 'driver', targetId: 'd-near', reason: 'fraud check' });
      expect(items[1]!.details).to.deep.include({ until: null });
      expect(Date.parse(items[1]!.at)).to.equal(atMs(rows[0]!));
    });

    it('a suspended driver on a trip finishes it and is then not available; a timed suspension ends by itself', async () => {
      const d1 = await driver(1, 'd-trip', north(100));
      const admin = await user(0, ADMIN.id, 'admin');
      const rider = await user(0, 'rider-2', 'passenger');
      const call = await request(rider);
      await d1.next<Offer>('offer', forCall(call.id));
      await ok(d1, 'offer:accept', { callId: call.id });

      const suspended = await rest(gw(0), 'POST', '/api/drivers/d-trip/suspend', ADMIN, { reason: 'complaint', durationMs: 60_000 });
      expect(suspended.status, JSON.stringify(suspended.body)).to.equal(200);
      const untilIso = suspended.body.until as string;
      expect(suspended.body).to.deep.equal({ driverId: 'd-trip', suspended: true, until: untilIso });
      expect(Date.parse(untilIso)).to.be.greaterThan(Date.now() + 50_000);
      expect(await d1.next('driver:suspended')).to.deep.equal({ reason: 'complaint', until: untilIso });

      // The trip goes on to its end.
      for (const step of ['trip:arrived', 'trip:start', 'trip:complete']) await ok(d1, step, { callId: call.id });
      await rider.next<Call>('call:status', (c) => c.id === call.id && c.status === 'completed');
      expect(await isFree('d-trip')).to.equal(false);
      expect(await stack!.redis.hget(stack!.keys.driver('d-trip'), 'status')).to.equal('offline');
      expect(await fails(d1, 'driver:online', north(100))).to.deep.equal({ code: 'FORBIDDEN', message: `driver suspended: complaint; until ${untilIso}` });

      // A short suspension of another driver: refused until its time, then served with no lift.
      const d2 = await driver(0, 'd-short', north(300));
      const short = await ok<{ until: string }>(admin, 'driver:suspend', { driverId: 'd-short', reason: 'cool down', durationMs: 1000 });
      const endsAt = Date.parse(short.until);
      const first = await d2.emit('driver:online', north(300));
      if (!first.ok) expect(first.error).to.deep.equal({ code: 'FORBIDDEN', message: `driver suspended: cool down; until ${short.until}` });
      else expect(Date.now()).to.be.at.least(endsAt);
      await until(async () => {
        const res = await d2.emit('driver:online', north(300));
        if (res.ok) return true;
        expect(res.error.code).to.equal('FORBIDDEN');
        return undefined;
      }, 'the timed suspension to end by itself', 15000, 100);
      expect(Date.now()).to.be.at.least(endsAt);
      expect(await isFree('d-short')).to.equal(true);

      const rows = await actionsOf('d-trip', 1);
      expect(rows[0]).to.include({ action: 'driver.suspend', admin_id: ADMIN.id, target_type: 'driver', reason: 'complaint' });
      expect(detailsOf(rows[0]!)).to.deep.include({ until: untilIso, onTrip: true });
    });

    it('redispatch of a dispatched call: rider told `offered`, the driver released (trip:status), the call dispatched to another; an admin cancel recorded', async () => {
      const d1 = await driver(1, 'd-a', north(100));
      const d2 = await driver(0, 'd-b', north(800));
      const admin = await user(0, ADMIN.id, 'admin');
      const rider = await user(1, 'rider-3', 'passenger');
      const call = await request(rider);
      await d1.next<Offer>('offer', forCall(call.id));
      const won = await ok<Call>(d1, 'offer:accept', { callId: call.id });

      // An unknown call is NOT_FOUND.
      expect((await fails(admin, 'call:redispatch', { callId: 'no-such-call' })).code).to.equal('NOT_FOUND');

      const again = await ok<Call>(admin, 'call:redispatch', { callId: call.id, reason: 'driver not moving' });
      expect(again).to.include({ id: call.id, status: 'offered', driverId: null, seq: won.seq + 1 });
      await rider.next<Call>('call:status', (c) => c.id === call.id && c.seq === again.seq && c.status === 'offered');
      await d1.next<Call>('trip:status', (c) => c.id === call.id && c.status === 'offered' && c.driverId === null);
      await until(() => isFree('d-a').then((f) => f || undefined), 'the released driver to be free');

      await d2.next<Offer>('offer', forCall(call.id));
      expect(await ok<Call>(d2, 'offer:accept', { callId: call.id })).to.include({ status: 'dispatched', driverId: 'd-b' });
      expect(d1.all<Offer>('offer').filter(forCall(call.id)), 'the released driver is never offered the call again').to.have.length(1);

      // Once the trip runs it is not taken from the driver.
      await ok(d2, 'trip:arrived', { callId: call.id });
      await ok(d2, 'trip:start', { callId: call.id });
      expect((await fails(admin, 'call:redispatch', { callId: call.id })).code).to.equal('INVALID_STATE');
      expect(restError(await rest(gw(1), 'POST', `/api/calls/${call.id}/redispatch`, ADMIN, {}), 409, 'INVALID_STATE')).to.be.a('string');

      // An admin's cancel of another call is a lever too.
      const rider2 = await user(0, 'rider-4', 'passenger');
      const other = await request(rider2);
      const cancelled = await rest(gw(1), 'POST', `/api/calls/${other.id}/cancel`, ADMIN, { reason: 'duplicate\u0000booking' });
      expect(cancelled.status, JSON.stringify(cancelled.body)).to.equal(200);

      const [redispatched] = await actionsOf(call.id, 1);
      expect(redispatched).to.include({ action: 'call.redispatch', admin_id: ADMIN.id, target_type: 'call', target_id: call.id, reason: 'driver not moving' });
      expect(detailsOf(redispatched!)).to.deep.equal({ driverId: 'd-a' });
      const [cancel] = await actionsOf(other.id, 1);
      expect(cancel).to.include({ action: 'call.cancel', admin_id: ADMIN.id, target_type: 'call', target_id: other.id, reason: 'duplicate\uFFFDbooking' });
      // A passenger's own cancel is not an operator lever.
      const rider3 = await user(0, 'rider-5', 'passenger');
      const own = await request(rider3);
      await ok(rider3, 'call:cancel', { callId: own.id });
      await until(async () => {
        const ended = await store.query(backend === 'sqlite' ? 'SELECT status FROM calls WHERE id = ?' : 'SELECT status FROM calls WHERE id = $1', [own.id]);
        return ended.length === 1 && (ended[0] as { status: string }).status === 'cancelled' ? true : undefined;
      }, 'the passenger cancel in the ledger');
      expect(await store.query(backend === 'sqlite' ? 'SELECT * FROM admin_actions WHERE target_id = ?' : 'SELECT * FROM admin_actions WHERE target_id = $1', [own.id])).to.have.length(0);
    });
  });
}

describe('operator levers: who may pull them, and what they validate', function () {
  this.timeout(60000);
  let stack: Stack | undefined;
  const clients: TestClient[] = [];
  const { gw, user } = harness({ stack: () => stack!, clients });

  before(async () => {
    stack = await startStack({ gateways: 2, dispatchers: 1, env: { RATE_LIMIT_PER_S: 0 } });
  });
  after(async () => {
    for (const c of clients.splice(0)) c.close();
    await stack?.stop();
  });

  const EVENTS: [string, unknown][] = [
    ['call:redispatch', { callId: 'c1' }],
    ['driver:suspend', { driverId: 'd1', reason: 'x' }],
    ['driver:lift', { driverId: 'd1' }],
  ];
  const ROUTES: [string, string, unknown][] = [
    ['POST', '/api/calls/c1/redispatch', {}],
    ['POST', '/api/drivers/d1/suspend', { reason: 'x' }],
    ['POST', '/api/drivers/d1/lift', {}],
    ['GET', '/api/admin/actions', undefined],
  ];

  it('a passenger or a driver is FORBIDDEN on every new event and route', async () => {
    for (const role of ['passenger', 'driver'] as const) {
      const c = await user(0, `not-admin-${role}`, role);
      for (const [event, payload] of EVENTS) {
        const res = await c.emit(event, payload);
        expect(res.ok, `${role} ${event}`).to.equal(false);
        if (!res.ok) expect(res.error.code, `${role} ${event}`).to.equal('FORBIDDEN');
      }
      for (const [method, path, body] of ROUTES) {
        restError(await rest(gw(1), method, path, { id: `not-admin-${role}`, role }, body), 403, 'FORBIDDEN');
      }
    }
    expect(await stack!.redis.hget(stack!.keys.driver('d1'), 'suspended')).to.equal(null);
  });

  it('bad payloads are VALIDATION_FAILED, over the socket and REST (a bad path id named as `id`)', async () => {
    const admin = await user(1, 'ops-v', 'admin');
    const bad: [string, unknown][] = [
      ['call:redispatch', {}],
      ['call:redispatch', { callId: 'a b' }],
      ['call:redispatch', { callId: 'c1', reason: 'x'.repeat(201) }],
      ['driver:suspend', { driverId: 'd1' }],
      ['driver:suspend', { driverId: 'd1', reason: '' }],
      ['driver:suspend', { driverId: 'd1', reason: 'x', durationMs: 999 }],
      ['driver:suspend', { driverId: 'd1', reason: 'x', durationMs: 31 * 24 * 3600 * 1000 }],
      ['driver:suspend', { driverId: 'd1', reason: 'x', durationMs: 1500.5 }],
      ['driver:suspend', { driverId: 'd:1', reason: 'x' }],
      ['driver:lift', {}],
      ['driver:lift', { driverId: 'd1', reason: 7 }],
    ];
    for (const [event, payload] of bad) {
      const res = await admin.emit(event, payload);
      expect(res.ok, `${event} ${JSON.stringify(payload)}`).to.equal(false);
      if (!res.ok) expect(res.error.code, `${event} ${JSON.stringify(payload)}`).to.equal('VALIDATION_FAILED');
    }
    expect(restError(await rest(gw(0), 'POST', '/api/drivers/d1/suspend', ADMIN, {}), 400, 'VALIDATION_FAILED')).to.contain('reason');
    expect(restError(await rest(gw(0), 'POST', '/api/drivers/d1/suspend', ADMIN, { reason: 'x', durationMs: 10 }), 400, 'VALIDATION_FAILED')).to.contain('durationMs');
    expect(restError(await rest(gw(0), 'POST', `/api/drivers/${'a'.repeat(65)}/suspend`, ADMIN, { reason: 'x' }), 400, 'VALIDATION_FAILED'))
      .to.equal('id: must be 1-64 chars of A-Z a-z 0-9 _ -');
    expect(restError(await rest(gw(0), 'POST', '/api/drivers/a%20b/lift', ADMIN, {}), 400, 'VALIDATION_FAILED')).to.equal('id: must be 1-64 chars of A-Z a-z 0-9 _ -');
    expect(restError(await rest(gw(0), 'POST', '/api/calls/a%20b/redispatch', ADMIN, {}), 400, 'VALIDATION_FAILED')).to.equal('id: must be 1-64 chars of A-Z a-z 0-9 _ -');
    expect(restError(await rest(gw(0), 'GET', '/api/admin/actions?limit=0', ADMIN), 400, 'VALIDATION_FAILED')).to.contain('limit');
    // The path id wins over a body's driverId.
    const res = await rest(gw(1), 'POST', '/api/drivers/d-path/suspend', ADMIN, { driverId: 'd-body', reason: 'x', durationMs: 1000 });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body.driverId).to.equal('d-path');
  });
});
