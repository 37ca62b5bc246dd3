/**
 * The operator console's data: the online drivers index and the open calls index stay exact
 * through every step that changes them (a ride, a cancel, an unfulfilled call, going offline, a
 * grace running out, offline after a trip), and GET /api/ops/summary reports the heartbeats of
 * two gateways and a dispatcher, their figures summed, a stopped gateway `gone`, and refuses
 * anyone but an admin. Real Redis, two gateways and a separate dispatcher, short timers.
 */
import { expect } from 'chai';
import { hostname } from 'node:os';
import { isTerminal, type Call, type CallStatus, type Offer, type OpsSummary } from '../protocol/index.js';
import { readDeployment } from '../server/ops/deployment.js';
import { connect, DROPOFF, placeAt, rest, restError, type TestClient } from './support/clients.js';
import { startStack, type Stack } from './support/stack.js';
import { until } from './support/wait.js';

const ADMIN = { id: 'ops', role: 'admin' as const };
const forCall = (id: string) => (o: { callId: string }) => o.callId === id;

describe('ops indexes and summary', function () {
  this.timeout(60000);
  let stack: Stack;
  const clients: TestClient[] = [];
  const driverIds = new Set<string>();
  let n = 0;

  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });

  async function driver(place: { lat: number; lng: number }, node = 1): Promise<TestClient> {
    const d = await connect(stack.gateways[node]!.url, `d${++n}`, 'driver');
    clients.push(d);
    driverIds.add(d.id);
    const res = await d.emit('driver:online', place);
    expect(res.ok, JSON.stringify(res)).to.equal(true);
    return d;
  }
  async function rider(node = 0): Promise<TestClient> {
    const r = await connect(stack.gateways[node]!.url, `r${++n}`, 'passenger');
    clients.push(r);
    return r;
  }
  async function ok<T>(c: TestClient, event: string, payload: unknown): Promise<T> {
    const res = await c.emit<T>(event, payload);
    if (!res.ok) throw new Error(`${event}: ${JSON.stringify(res.error)}`);
    return res.data;
  }
  const request = (r: TestClient, place: { lat: number; lng: number }) => ok<Call>(r, 'call:request', { requestId: `q${++n}`, pickup: place, dropoff: DROPOFF });
  const statusOf = async (id: string) => (await stack.redis.hget(stack.keys.call(id), 'status')) as CallStatus | null;
  const driverStatus = (id: string) => stack.redis.hget(stack.keys.driver(id), 'status');

  /**
   * Both indexes are exactly what the hashes say, read in one MULTI: the open calls index holds
   * every call not in a final status, the online drivers index every driver available or busy.
   */
  async function exact(what: string): Promise<{ open: string[]; online: string[] }> {
    const callIds = await stack.redis.zrange(stack.keys.allCalls, 0, -1);
    const drivers = [...driverIds];
    const m = stack.redis.multi().zrange(stack.keys.openCalls, 0, -1).zrange(stack.keys.onlineDrivers, 0, -1);
    for (const c of callIds) m.hget(stack.keys.call(c), 'status');
    for (const d of drivers) m.hget(stack.keys.driver(d), 'status');
    const out = ((await m.exec()) ?? []).map(([err, v]) => {
      if (err) throw err;
      return v;
    });
    const [open, online] = out as [string[], string[]];
    const statuses = out.slice(2, 2 + callIds.length) as CallStatus[];
    const dStatuses = out.slice(2 + callIds.length) as (string | null)[];
    const shouldOpen = callIds.filter((_, j) => !isTerminal(statuses[j]!));
    const shouldOnline = drivers.filter((_, j) => dStatuses[j] === 'available' || dStatuses[j] === 'busy');
    expect([...open].sort(), `${what}: the open calls index`).to.deep.equal([...shouldOpen].sort());
    expect([...online].sort(), `${what}: the online drivers index`).to.deep.equal([...shouldOnline].sort());
    return { open, online };
  }

  describe('the indexes', () => {
    before(async () => {
      stack = await startStack({ env: { OFFER_TIMEOUT_MS: 60000, CALL_TIMEOUT_MS: 1500, DRIVER_GRACE_MS: 800, MATCH_RADIUS_M: 3000 } });
    });
    after(() => stack.stop());

    it('a full ride: online, offered, dispatched, arrived, in_progress, completed; the driver\'s score moves with its position', async () => {
      const place = placeAt(1);
      const d = await driver(place);
      expect((await exact('online')).online).to.include(d.id);
      const before = Number(await stack.redis.zscore(stack.keys.onlineDrivers, d.id));
      const r = await rider();
      const call = await request(r, place);
      expect((await exact('requested')).open).to.include(call.id);
      await d.next<Offer>('offer', forCall(call.id));
      await until(async () => (await statusOf(call.id)) === 'offered', 'the call to be offered');
      await exact('offered');
      await ok(d, 'offer:accept', { callId: call.id });
      expect((await exact('dispatched')).open).to.include(call.id);
      await ok(d, 'driver:location', { lat: place.lat + 0.0001, lng: place.lng });
      const score = Number(await stack.redis.zscore(stack.keys.onlineDrivers, d.id));
      expect(score, 'the score moves with the report').to.be.at.least(before);
      expect(score, 'in the same step as the hash').to.equal(Number(await stack.redis.hget(stack.keys.driver(d.id), 'updatedAt')));
      expect(await driverStatus(d.id)).to.equal('busy');
      await ok(d, 'trip:arrived', { callId: call.id });
      await exact('arrived');
      await ok(d, 'trip:start', { callId: call.id });
      await exact('in_progress');
      await ok(d, 'trip:complete', { callId: call.id });
      const after = await exact('completed');
      expect(after.open).to.not.include(call.id);
      expect(after.online, 'free again').to.include(d.id);
    });

    it('a cancel and an unfulfilled call leave the open calls index in the step that ends them', async () => {
      const lonely = placeAt(2, { lat: 36.0, lng: 128.0 });
      const r1 = await rider();
      const cancelled = await request(r1, lonely);
      expect((await exact('requested')).open).to.include(cancelled.id);
      await ok(r1, 'call:cancel', { callId: cancelled.id });
      expect((await exact('cancelled')).open).to.not.include(cancelled.id);

      const r2 = await rider(1);
      const unfulfilled = await request(r2, placeAt(3, { lat: 36.0, lng: 128.0 }));
      await until(async () => (await statusOf(unfulfilled.id)) === 'unfulfilled', 'the call to become unfulfilled (CALL_TIMEOUT_MS)');
      expect((await exact('unfulfilled')).open).to.not.include(unfulfilled.id);
    });

    it('a driver going offline, and a driver whose grace runs out, leave the online drivers index', async () => {
      const asked = await driver(placeAt(4));
      await ok(asked, 'driver:offline', {});
      expect((await exact('offline')).online).to.not.include(asked.id);
      // Its position is still kept, but an offline driver stays out of the index.
      await ok(asked, 'driver:location', placeAt(4));
      expect((await exact('offline, moving')).online).to.not.include(asked.id);

      const away = await driver(placeAt(5));
      expect((await exact('online')).online).to.include(away.id);
      away.close();
      await until(async () => (await driverStatus(away.id)) === 'offline', 'the grace to run out (DRIVER_GRACE_MS)');
      expect((await exact('grace over')).online).to.not.include(away.id);
    });

    it('a driver whose grace ran out on a trip stays indexed (busy) and leaves the index when the trip completes', async () => {
      const place = placeAt(6, { lat: 35.5, lng: 129.0 });
      const d = await driver(place);
      const r = await rider();
      const call = await request(r, place);
      await d.next<Offer>('offer', forCall(call.id));
      await ok(d, 'offer:accept', { callId: call.id });
      d.close();
      await until(async () => (await stack.redis.hget(stack.keys.driver(d.id), 'offlineAfterTrip')) === '1', 'the grace timer to run on the trip');
      expect((await exact('on a trip, grace over')).online).to.include(d.id);
      const user = { id: d.id, role: 'driver' as const };
      for (const step of ['arrived', 'start', 'complete']) {
        const res = await rest(stack.gateways[0]!.url, 'POST', `/api/calls/${call.id}/${step}`, user);
        expect(res.status, JSON.stringify(res.body)).to.equal(200);
      }
      expect(await driverStatus(d.id)).to.equal('offline');
      const after = await exact('completed, offline after the trip');
      expect(after.online).to.not.include(d.id);
      expect(after.open).to.not.include(call.id);
    });
  });

  describe('heartbeats and GET /api/ops/summary', () => {
    before(async () => {
      stack = await startStack({ gateways: 2, dispatchers: 1, env: { HEARTBEAT_MS: 200, OFFER_TIMEOUT_MS: 60000, MATCH_RADIUS_M: 3000 } });
    });
    after(() => stack.stop());

    const summary = async (node = 0): Promise<OpsSummary> => {
      const res = await rest(stack.gateways[node]!.url, 'GET', '/api/ops/summary', ADMIN);
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      return res.body as unknown as OpsSummary;
    };
    const summed = (s: OpsSummary, pick: (n: OpsSummary['nodes'][number]) => Record<string, number>) => {
      const out: Record<string, number> = {};
      for (const node of s.nodes.filter((x) => !x.gone)) for (const [k, v] of Object.entries(pick(node))) out[k] = (out[k] ?? 0) + v;
      return out;
    };

    it('refuses anyone but an admin', async () => {
      for (const role of ['passenger', 'driver'] as const) {
        restError(await rest(stack.gateways[0]!.url, 'GET', '/api/ops/summary', { id: `x-${role}`, role }), 403, 'FORBIDDEN');
      }
      restError(await rest(stack.gateways[0]!.url, 'GET', '/api/ops/summary'), 401, 'UNAUTHORIZED');
    });

    it('two gateways and a dispatcher appear with their sockets and figures, summed in totals, beside the indexes counted', async () => {
      const place = placeAt(7);
      const d = await driver(place, 1);
      const r = await rider(0);
      const call = await request(r, place);
      await d.next<Offer>('offer', forCall(call.id));
      await ok(d, 'offer:accept', { callId: call.id });
      const ids = [...stack.gateways, ...stack.dispatchers].map((a) => a.nodeId);
      const s = await until(async (): Promise<OpsSummary | undefined> => {
        const now = await summary(1);
        const live = now.nodes.filter((x) => ids.includes(x.id) && !x.gone);
        const done = live.length === 3 && now.totals.sockets.driver === 1 && now.totals.sockets.passenger === 1
          && now.totals.figures['accepts.won'] === 1 && now.totals.figures['calls.dispatched'] === 1
          && now.totals.figures['calls.offered'] === 1 && (now.totals.figures.offers ?? 0) >= 1;
        return done ? now : undefined;
      }, 'the three heartbeats with the ride in them', 10000);
      expect(s.nodes.filter((x) => ids.includes(x.id)).map((x) => x.role).sort()).to.deep.equal(['dispatcher', 'gateway', 'gateway']);
      expect(s.totals).to.deep.include({ nodes: 3, gone: 0, byRole: { gateway: 2, dispatcher: 1 } });
      expect(s.totals.sockets).to.deep.equal(summed(s, (x) => x.sockets));
      expect(s.totals.figures).to.deep.equal(summed(s, (x) => x.figures));
      const gw1 = s.nodes.find((x) => x.id === stack.gateways[1]!.nodeId)!;
      expect(gw1.sockets.driver, 'the driver is on gateway 1').to.equal(1);
      expect(gw1).to.include({ role: 'gateway', host: hostname(), pid: process.pid, gone: false });
      expect(gw1.lastSeenMs).to.be.a('number');
      const dispatcher = s.nodes.find((x) => x.id === stack.dispatchers[0]!.nodeId)!;
      expect(dispatcher.figures.offers, 'the dispatcher sent the offer').to.be.at.least(1);
      expect(dispatcher.figures.rounds).to.be.at.least(1);
      expect(dispatcher.figures).to.have.property('ledgerLag');
      expect(Object.keys(dispatcher.figures).some((k) => k.startsWith('queue.')), 'queue depth').to.equal(true);
      expect(s.drivers).to.deep.equal({ online: 1, available: 0, busy: 1, away: 0, counted: 1 });
      expect(s.calls).to.deep.equal({ open: 1, byStatus: { dispatched: 1 }, counted: 1 });
    });

    it('a stopped gateway is reported gone and leaves the totals; a long gone node is dropped', async () => {
      const stopped = stack.gateways.pop()!;
      await stopped.stop();
      const s = await until(async (): Promise<OpsSummary | undefined> => {
        const now = await summary(0);
        return now.nodes.find((x) => x.id === stopped.nodeId)?.gone === true ? now : undefined;
      }, 'the stopped gateway to be reported gone (3 x HEARTBEAT_MS)', 10000);
      expect(s.totals).to.deep.include({ nodes: 2, gone: 1, byRole: { gateway: 1, dispatcher: 1 } });
      expect(s.totals.figures).to.deep.equal(summed(s, (x) => x.figures));

      // A node last seen more than 100 heartbeats ago is dropped from P:nodes at the next read.
      const ancient = 'gateway:old-host:1:deadbeef';
      await stack.redis.zadd(stack.keys.nodes, Date.now() - 100 * 200 - 5000, ancient);
      const read = await readDeployment(stack.redis, stack.keys, 200);
      expect(read.nodes.map((x) => x.id)).to.not.include(ancient);
      expect(await stack.redis.zscore(stack.keys.nodes, ancient)).to.equal(null);
      expect(read.nodes.find((x) => x.id === stopped.nodeId), 'still listed as gone').to.deep.include({ gone: true, role: 'gateway' });
    });
  });
});
