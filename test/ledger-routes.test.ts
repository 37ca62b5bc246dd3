/**
 * The routes that answer from the ledger, on both backends: a ride across two gateways and a
 * separate dispatcher, then its history, the closed listing and the NDJSON export (limits, cursors,
 * who may read them, bad input), where a process can read the ledger and where it cannot (a
 * ROLE=gateway process with SQLite). Then retention with a repeated requestId: a call leaves Redis
 * once it ended and its requestId expired, its reads fall back to the ledger, and the same
 * requestId makes a new call — never the old one twice.
 */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { Call, type Offer, type UserRole } from '../protocol/index.js';
import { createApp, type App } from '../server/app.js';
import { clock } from '../server/context.js';
import { cleanPrefix } from '../server/devkit/prefix.js';
import { loadConfig } from '../server/config.js';
import { makeCommands, matchSettings } from '../server/redis/commands.js';
import { makeKeys } from '../server/redis/keys.js';
import { regionOf, regionResolution } from '../server/region.js';
import { DROPOFF, PICKUP, placeAt, rest, restError, token } from './support/clients.js';
import { randomPrefix, REDIS_URL, testConfig } from './support/env.js';
import { BACKENDS, ledgerMismatchOf, testStore, type TestStore } from './support/ledger.js';
import { startStack, type Stack } from './support/stack.js';
import { usersOf } from './support/users.js';
import { until } from './support/wait.js';

const as = (id: string, role: UserRole) => ({ id, role });
const ADMIN = as('ops', 'admin');

/** A REST answer that must be a Call with this status. */
function callOf(res: Awaited<ReturnType<typeof rest>>, status: number): Call {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  return Call.parse(res.body);
}

interface ExportAnswer {
  status: number;
  type: string | null;
  calls: Call[];
  end: { count: number; next: string | null; settled: boolean; error?: unknown } | undefined;
  body: string;
}

/** GET /api/calls/export with these query parameters: the NDJSON lines split into calls and the end line. */
async function exportCalls(url: string, query: Record<string, string | number>, user = ADMIN): Promise<ExportAnswer> {
  const qs = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)])).toString();
  const res = await fetch(`${url}/api/calls/export?${qs}`, { headers: { authorization: `Bearer ${await token(user.id, user.role)}` } });
  const body = await res.text();
  const out: ExportAnswer = { status: res.status, type: res.headers.get('content-type'), calls: [], end: undefined, body };
  expect(res.status, body).to.equal(200);
  expect(body.endsWith('\n'), 'the export ends with a newline').to.equal(true);
  const lines = body.slice(0, -1).split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const last = lines.pop();
  expect(last, 'the end line').to.have.all.keys('end');
  out.end = (last as { end: ExportAnswer['end'] }).end;
  out.calls = lines.map((l) => Call.parse(l));
  return out;
}

/** Every page of an export of [from, to) at `limit` calls a page, following `next`. */
async function exportAll(url: string, from: string, to: string, limit: number): Promise<{ calls: Call[]; pages: number }> {
  const calls: Call[] = [];
  let cursor: string | null = null;
  for (let pages = 1; pages < 100; pages++) {
    const page = await exportCalls(url, { from, to, limit, ...(cursor ? { cursor } : {}) });
    expect(page.calls.length).to.be.at.most(limit);
    expect(page.end).to.deep.equal({ count: page.calls.length, next: page.end!.next, settled: page.end!.settled });
    calls.push(...page.calls);
    cursor = page.end!.next;
    if (!cursor) return { calls, pages };
  }
  throw new Error('the export never ended');
}

/** Every page of GET /api/calls/closed at `limit` a page, following `next`. */
async function closedAll(url: string, limit: number, status?: string): Promise<Call[]> {
  const out: Call[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 100; page++) {
    const qs = new URLSearchParams({ limit: String(limit), ...(status ? { status } : {}), ...(cursor ? { cursor } : {}) }).toString();
    const res = await rest(url, 'GET', `/api/calls/closed?${qs}`, ADMIN);
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body).to.have.all.keys('items', 'next');
    const items = (res.body.items as unknown[]).map((c) => Call.parse(c));
    expect(items.length).to.be.at.most(limit);
    out.push(...items);
    cursor = res.body.next as string | null;
    if (!cursor) return out;
  }
  throw new Error('the closed listing never ended');
}

const ids = (calls: { id: string }[]) => calls.map((c) => c.id);
const iso = (ms: number) => new Date(ms).toISOString();

for (const backend of BACKENDS) {
  describe(`ledger routes (${backend})`, function () {
    this.timeout(60000);
    let store: TestStore;
    let stack: Stack | undefined;
    const { user, online, closeAll } = usersOf(() => stack!);

    beforeEach(async () => {
      store = await testStore(backend);
    });
    afterEach(async () => {
      closeAll();
      await stack?.stop();
      stack = undefined;
      await store.drop();
    });

    /** A process that can read the ledger: any gateway with PostgreSQL; with SQLite one of ROLE=all (started here, stopped with the stack). */
    async function reader(s: Stack, gateway: number): Promise<App> {
      if (backend === 'postgres') return s.gateways[gateway]!;
      const all = await createApp(testConfig(s.env, 'all'));
      s.dispatchers.push(all);
      return all;
    }

    it('a ride to completion across two gateways: its history, the closed listing and the export, paged; who may read them; bad input', async () => {
      stack = await startStack({ gateways: 2, dispatchers: 1, env: { ...store.env, OFFER_TIMEOUT_MS: 60000, RATE_LIMIT_PER_S: 0 } });
      const s = stack;
      const ledger = store.open();

      // The ride: the rider on gateway 0, the driver on gateway 1, matched by the dispatcher.
      const driver = await online(1, 'd-1', { lat: PICKUP.lat + 0.001, lng: PICKUP.lng });
      const rider = await user(0, 'rider-1', 'passenger');
      const req = await rider.emit<Call>('call:request', { requestId: 'ride', pickup: PICKUP, dropoff: DROPOFF });
      if (!req.ok) throw new Error(JSON.stringify(req.error));
      const id = req.data.id;
      await driver.next<Offer>('offer', (o) => o.callId === id);
      for (const step of ['offer:accept', 'trip:arrived', 'trip:start', 'trip:complete']) {
        const res = await driver.emit<Call>(step, { callId: id });
        if (!res.ok) throw new Error(`${step}: ${JSON.stringify(res.error)}`);
      }
      const done = await rider.next<Call>('call:status', (c) => c.id === id && c.status === 'completed');
      expect(done).to.include({ driverId: 'd-1', seq: 6 });

      // Four more calls, far from any driver, that their riders cancel: five ended calls in all.
      const more: Call[] = [];
      for (let i = 0; i < 4; i++) {
        const made = callOf(await rest(s.gateways[i % 2]!.url, 'POST', '/api/calls', as(`rider-x${i}`, 'passenger'), { requestId: 'x', pickup: placeAt(3 + i), dropoff: DROPOFF }), 201);
        more.push(callOf(await rest(s.gateways[(i + 1) % 2]!.url, 'POST', `/api/calls/${made.id}/cancel`, as(`rider-x${i}`, 'passenger'), { reason: 'test' }), 200));
      }
      const all = [done, ...more];
      await until(async () => (await ledgerMismatchOf(ledger, s.redis, s.keys, ids(all))) === null, 'the ledger to hold every call', 20000, 50);

      // Read from the gateway the ride did not use (PostgreSQL), or from a ROLE=all process (SQLite).
      const read = (await reader(s, 1)).url;
      const history = await rest(read, 'GET', `/api/calls/${id}/history`, as('rider-1', 'passenger'));
      expect(history.status, JSON.stringify(history.body)).to.equal(200);
      expect(history.body).to.have.all.keys('callId', 'events');
      const events = history.body.events as { seq: number; status: string; driverId: string | null; at: string }[];
      expect(history.body.callId).to.equal(id);
      expect(events.map((e) => [e.seq, e.status, e.driverId])).to.deep.equal([
        [1, 'requested', null], [2, 'offered', null], [3, 'dispatched', 'd-1'], [4, 'arrived', 'd-1'], [5, 'in_progress', 'd-1'], [6, 'completed', 'd-1'],
      ]);
      expect(events[0]!.at).to.equal(req.data.createdAt);
      expect(events.at(-1)!.at).to.equal(done.updatedAt);
      const times = events.map((e) => Date.parse(e.at));
      expect(times).to.deep.equal([...times].sort((a, b) => a - b));
      // Whoever may read the call may read its history, from every process that reads the ledger.
      const readers = backend === 'postgres' ? [s.gateways[0]!.url, read] : [read];
      for (const url of readers) {
        for (const who of [as('rider-1', 'passenger'), as('d-1', 'driver'), ADMIN]) {
          expect(await rest(url, 'GET', `/api/calls/${id}/history`, who), `${who.id} at ${url}`).to.deep.equal(history);
        }
        restError(await rest(url, 'GET', `/api/calls/${id}/history`, as('rider-2', 'passenger')), 403, 'FORBIDDEN');
        restError(await rest(url, 'GET', `/api/calls/${id}/history`, as('d-2', 'driver')), 403, 'FORBIDDEN');
        restError(await rest(url, 'GET', '/api/calls/no-such-call/history', ADMIN), 404, 'NOT_FOUND');
      }

      // Closed: the latest to end first; every page of any size, following next, lists each once.
      const want = [...all].sort((a, b) => Date.parse(b.updatedAt) - Date.parse(a.updatedAt) || (a.id < b.id ? 1 : -1));
      const first = await rest(read, 'GET', '/api/calls/closed', ADMIN);
      expect(first.status, JSON.stringify(first.body)).to.equal(200);
      expect(first.body).to.deep.equal({ items: want, next: null });
      for (const limit of [1, 2, 5]) expect(ids(await closedAll(read, limit)), `limit ${limit}`).to.deep.equal(ids(want));
      expect(await closedAll(read, 2, 'completed')).to.deep.equal([done]);
      expect(ids(await closedAll(read, 3, 'cancelled'))).to.deep.equal(ids(want.filter((c) => c.status === 'cancelled')));
      expect(await closedAll(read, 3, 'unfulfilled')).to.deep.equal([]);

      // Export: the calls created in [from, to), oldest first, the end line last.
      const byCreation = [...all].sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt) || (a.id < b.id ? -1 : 1));
      const from = req.data.createdAt;
      const to = iso(Date.now() + 60_000);
      const whole = await exportCalls(read, { from, to });
      expect(whole.status, whole.body).to.equal(200);
      expect(whole.type).to.match(/^application\/x-ndjson/);
      expect(whole.calls).to.deep.equal(byCreation);
      // A range reaching into the future is not settled: calls of it may still come.
      expect(whole.end).to.deep.equal({ count: 5, next: null, settled: false });
      // One that ended before now, with every change written, is.
      await until(async () => (await s.redis.xlen(s.keys.ledger)) === 0, 'every change written', 10000, 50);
      const past = await exportCalls(read, { from, to: iso(Date.now()) });
      expect(past.calls).to.deep.equal(byCreation);
      expect(past.end).to.deep.equal({ count: 5, next: null, settled: true });
      // [from, to): a range ending at the ride's creation leaves it out; one starting 1 ms after it too.
      const exported = async (f: string, t: string) => {
        const res = await exportCalls(read, { from: f, to: t });
        expect(res.status, res.body).to.equal(200);
        return ids(res.calls);
      };
      expect(await exported(iso(Date.parse(from) - 60_000), from)).to.not.include(id);
      expect(await exported(iso(Date.parse(from) + 1), to)).to.not.include(id);
      expect(await exported(from, iso(Date.parse(from) + 1))).to.include(id);
      // limit + next: pages of 2 → 2, 2, 1; a limit equal to what is left says there is no more.
      const paged = await exportAll(read, from, to, 2);
      expect(paged).to.deep.equal({ calls: byCreation, pages: 3 });
      expect((await exportCalls(read, { from, to, limit: 5 })).end).to.deep.equal({ count: 5, next: null, settled: false });
      const one = await exportCalls(read, { from, to, limit: 1 });
      expect(one.calls).to.deep.equal(byCreation.slice(0, 1));
      expect(one.end!.next).to.be.a('string');
      expect((await exportCalls(read, { from, to, cursor: one.end!.next! })).calls).to.deep.equal(byCreation.slice(1));

      // Only an admin reads the listings.
      for (const who of [as('rider-1', 'passenger'), as('d-1', 'driver')]) {
        restError(await rest(read, 'GET', '/api/calls/closed', who), 403, 'FORBIDDEN');
        restError(await rest(read, 'GET', `/api/calls/export?from=${from}&to=${to}`, who), 403, 'FORBIDDEN');
      }
      // Bad input: 400 VALIDATION_FAILED.
      for (const q of [
        `from=yesterday&to=${to}`, `from=${from}`, `to=${to}`, `from=${to}&to=${from}`, `from=${from}&to=${from}`,
        `from=${from}&to=${to}&limit=0`, `from=${from}&to=${to}&cursor=zzz`,
      ]) {
        restError(await rest(read, 'GET', `/api/calls/export?${q.replace(/\+/g, '%2B')}`, ADMIN), 400, 'VALIDATION_FAILED');
      }
      for (const q of ['limit=0', 'limit=201', 'status=dispatched', 'cursor=zzz']) {
        restError(await rest(read, 'GET', `/api/calls/closed?${q}`, ADMIN), 400, 'VALIDATION_FAILED');
      }

      if (backend === 'sqlite') {
        // A ROLE=gateway process cannot read a dispatcher's SQLite file: 503 UNAVAILABLE, saying why.
        for (const gw of s.gateways) {
          const msg = restError(await rest(gw.url, 'GET', `/api/calls/${id}/history`, as('rider-1', 'passenger')), 503, 'UNAVAILABLE');
          expect(msg).to.match(/ROLE=all|DATABASE_URL/);
          restError(await rest(gw.url, 'GET', '/api/calls/closed', ADMIN), 503, 'UNAVAILABLE');
          restError(await rest(gw.url, 'GET', `/api/calls/export?from=${from}&to=${to}`, ADMIN), 503, 'UNAVAILABLE');
          // What it reads from Redis it still serves.
          expect(callOf(await rest(gw.url, 'GET', `/api/calls/${id}`, as('rider-1', 'passenger')), 200)).to.deep.equal(done);
        }
      }
    });

    it('retention with a repeated requestId: the same call within the TTL; once removed from Redis it is read from the ledger, and the requestId makes a new call', async function () {
      this.timeout(60000);
      stack = await startStack({ gateways: 2, dispatchers: 1, env: { ...store.env, REQUEST_ID_TTL_MS: 5000, CALL_RETENTION_MS: 5000 } });
      const s = stack;
      const read = (await reader(s, 1)).url;
      const rider = as('rider-r', 'passenger');
      const body = { requestId: 'again', pickup: placeAt(7), dropoff: DROPOFF };

      const created = callOf(await rest(s.gateways[0]!.url, 'POST', '/api/calls', rider, body), 201);
      // The same requestId within its TTL (on another gateway): the same call, 200.
      expect(callOf(await rest(s.gateways[1]!.url, 'POST', '/api/calls', rider, body), 200)).to.deep.equal(created);
      const cancelled = callOf(await rest(s.gateways[1]!.url, 'POST', `/api/calls/${created.id}/cancel`, rider, { reason: 'changed my mind' }), 200);
      expect(cancelled).to.include({ id: created.id, status: 'cancelled' });
      // Still within the TTL, the ended call is what the requestId answers.
      expect(callOf(await rest(s.gateways[0]!.url, 'POST', '/api/calls', rider, body), 200)).to.deep.equal(cancelled);

      // Retention removes its live keys once it ended CALL_RETENTION_MS ago and its requestId expired.
      await until(async () => (await s.redis.exists(s.keys.call(created.id))) === 0, 'retention to remove the ended call from Redis', 30000, 50);
      expect(await s.redis.exists(s.keys.request(rider.id, body.requestId))).to.equal(0);
      expect(await s.redis.zscore(s.keys.allCalls, created.id)).to.equal(null);
      expect(await s.redis.zscore(s.keys.endedCalls, created.id)).to.equal(null);

      // Its reads fall back to the ledger where a process can read it.
      expect(callOf(await rest(read, 'GET', `/api/calls/${created.id}`, rider), 200)).to.deep.equal(cancelled);
      expect(callOf(await rest(read, 'GET', `/api/calls/${created.id}`, ADMIN), 200)).to.deep.equal(cancelled);
      restError(await rest(read, 'GET', `/api/calls/${created.id}`, as('rider-other', 'passenger')), 403, 'FORBIDDEN');
      if (backend === 'sqlite') {
        // A ROLE=gateway process cannot read the SQLite ledger: for it the call is gone (documented: 404).
        for (const gw of s.gateways) restError(await rest(gw.url, 'GET', `/api/calls/${created.id}`, rider), 404, 'NOT_FOUND');
      }
      const history = await rest(read, 'GET', `/api/calls/${created.id}/history`, rider);
      expect(history.status, JSON.stringify(history.body)).to.equal(200);
      expect((history.body.events as { status: string }[]).map((e) => e.status)).to.deep.equal(['requested', 'cancelled']);

      // The same requestId now (its record expired with the call): a new call, never the old id again.
      const fresh = callOf(await rest(s.gateways[0]!.url, 'POST', '/api/calls', rider, body), 201);
      expect(fresh.id).to.not.equal(created.id);
      expect(fresh).to.include({ status: 'requested', seq: 1, passengerId: rider.id });
      expect(callOf(await rest(s.gateways[1]!.url, 'POST', '/api/calls', rider, body), 200)).to.deep.equal(fresh);
      expect(await s.redis.exists(s.keys.call(created.id))).to.equal(0);
      expect(await s.redis.zrange(s.keys.allCalls, 0, -1)).to.deep.equal([fresh.id]);
      expect(await s.redis.zrange(s.keys.passengerCalls(rider.id), 0, -1)).to.deep.equal([fresh.id]);
      // The ledger has both calls, each its own.
      const ledger = store.open();
      await until(async () => (await ledgerMismatchOf(ledger, s.redis, s.keys, [fresh.id])) === null, 'the new call in the ledger', 10000, 50);
      expect(await ledger.call(created.id)).to.deep.equal(cancelled);
      expect((await ledger.history(created.id)).map((e) => e.seq)).to.deep.equal([1, 2]);
    });
  });
}

describe('retire (the command)', () => {
  let redis: Redis;
  const keys = makeKeys(randomPrefix());
  const config = loadConfig({});
  const commands = () => makeCommands(redis, keys, { ...matchSettings(config), callTimeoutMs: 120_000 });

  beforeEach(() => {
    redis = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    await cleanPrefix(redis, keys.prefix);
    redis.disconnect();
  });

  it('answers later while the requestId still names the call, removed once it expired, then gone; an open call is not removed', async () => {
    const c = commands();
    const region = regionOf(PICKUP, regionResolution(config));
    const made = await c.request({
      callId: 'ret-1', passengerId: 'p-ret', requestId: 'q', pickup: PICKUP, dropoff: DROPOFF, now: clock(), requestTtlMs: 60_000, safetyTimerMs: 60_000,
      region, vehicleClass: 'standard',
    });
    expect(made.created).to.equal(true);
    // Not ended: retention leaves it (and drops it from the ended set).
    await redis.zadd(keys.endedCalls, 0, 'ret-1');
    expect(await c.retire({ callId: 'ret-1', now: Date.now(), retentionMs: 1000 })).to.equal('open');
    expect(await redis.exists(keys.call('ret-1'))).to.equal(1);
    expect(await redis.zscore(keys.endedCalls, 'ret-1')).to.equal(null);

    const { call } = await c.cancel({ callId: 'ret-1', userId: 'p-ret', role: 'passenger', reason: 'test', now: clock() });
    expect(call.status).to.equal('cancelled');
    // The ledger committed its end long ago (as the consumer records it), but the requestId is remembered for a minute yet.
    await redis.zadd(keys.endedCalls, Date.now() - 10_000, 'ret-1');
    const now = Date.now();
    expect(await c.endedBefore({ before: now - 1000, max: 10 })).to.deep.equal(['ret-1']);
    expect(await c.retire({ callId: 'ret-1', now, retentionMs: 1000 })).to.equal('later');
    expect(await redis.exists(keys.call('ret-1'))).to.equal(1);
    expect(await redis.get(keys.request('p-ret', 'q'))).to.equal('ret-1');
    // Due again when the requestId's record expires, not before.
    const due = Number(await redis.zscore(keys.endedCalls, 'ret-1'));
    expect(due + 1000).to.be.within(now + 50_000, now + 60_001);
    expect(await c.endedBefore({ before: now - 1000, max: 10 })).to.deep.equal([]);

    // A requestId that names another call (remembered, then reused after it expired) does not hold this one.
    await redis.set(keys.request('p-ret', 'q'), 'other-call', 'PX', 60_000);
    expect(await c.retire({ callId: 'ret-1', now, retentionMs: 1000 })).to.equal('removed');
    expect(await redis.get(keys.request('p-ret', 'q'))).to.equal('other-call');
    for (const key of [keys.call('ret-1'), keys.callOffers('ret-1'), keys.callSent('ret-1')]) expect(await redis.exists(key), key).to.equal(0);
    expect(await redis.zscore(keys.allCalls, 'ret-1')).to.equal(null);
    expect(await redis.zscore(keys.passengerCalls('p-ret'), 'ret-1')).to.equal(null);
    expect(await redis.zscore(keys.endedCalls, 'ret-1')).to.equal(null);
    expect(await c.retire({ callId: 'ret-1', now, retentionMs: 1000 })).to.equal('gone');
  });

  it('removes the call once its requestId expired', async () => {
    const c = commands();
    const region = regionOf(PICKUP, regionResolution(config));
    await c.request({
      callId: 'ret-2', passengerId: 'p-ret2', requestId: 'q', pickup: PICKUP, dropoff: DROPOFF, now: clock(), requestTtlMs: 60_000, safetyTimerMs: 60_000,
      region, vehicleClass: 'standard',
    });
    await c.cancel({ callId: 'ret-2', userId: 'p-ret2', role: 'passenger', reason: 'test', now: clock() });
    await redis.zadd(keys.endedCalls, Date.now() - 10_000, 'ret-2');
    expect(await c.retire({ callId: 'ret-2', now: Date.now(), retentionMs: 1000 })).to.equal('later');
    await redis.del(keys.request('p-ret2', 'q')); // as its TTL would
    expect(await c.retire({ callId: 'ret-2', now: Date.now(), retentionMs: 1000 })).to.equal('removed');
    expect(await redis.exists(keys.call('ret-2'))).to.equal(0);
    expect(await redis.exists(keys.passengerActive('p-ret2'))).to.equal(0);
  });
});
