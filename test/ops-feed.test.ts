/**
 * The operator feed (protocol 1.5.0) across nodes: two gateways and a separate dispatcher. An admin
 * joined on gateway A gets the snapshot (drivers and calls of gateway B), then deltas: a driver on
 * B moving, a driver going offline (`gone`), a call requested on B and dispatched (the state pushed
 * by the dispatcher and by B); an admin on B gets the same, each call state once; `ops:leave` ends
 * the deltas; anyone but an admin is FORBIDDEN; with nobody joined nothing is published. Every
 * change of a driver the feed shows reaches it (protocol 1.6.0): an offer made and answered
 * (`offered`), busy on its trip, a suspension and its lift during the trip, away after a disconnect.
 * Real Redis, socket.io-client, no mocks.
 */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { Call, Offer, OpsDelta, OpsSnapshot, OpsSummary } from '../protocol/index.js';
import { connect, DROPOFF, placeAt, rest, restError, type TestClient } from './support/clients.js';
import { OVERLAP_MS } from '../server/ops/feed.js';
import { startStack, type Stack } from './support/stack.js';
import { until } from './support/wait.js';

const ADMIN = { id: 'ops1', role: 'admin' as const };
const LONELY = { lat: 36.0, lng: 128.0 };

describe('ops feed', function () {
  this.timeout(60000);
  let stack: Stack;
  const clients: TestClient[] = [];
  let n = 0;

  before(async () => {
    stack = await startStack({ gateways: 2, dispatchers: 1, env: { OPS_FEED_MS: 150, OFFER_TIMEOUT_MS: 60000, MATCH_RADIUS_M: 3000 } });
  });
  after(async () => {
    for (const c of clients.splice(0)) c.close();
    await stack.stop();
  });

  async function client(role: 'passenger' | 'driver' | 'admin', node: number): Promise<TestClient> {
    const c = await connect(stack.gateways[node]!.url, `${role[0]}${++n}`, role);
    clients.push(c);
    return c;
  }
  async function ok<T>(c: TestClient, event: string, payload: unknown = {}): Promise<T> {
    const res = await c.emit<T>(event, payload);
    if (!res.ok) throw new Error(`${event}: ${JSON.stringify(res.error)}`);
    return res.data;
  }
  const request = (r: TestClient, place: { lat: number; lng: number }) => ok<Call>(r, 'call:request', { requestId: `q${++n}`, pickup: place, dropoff: DROPOFF });
  const deltas = (c: TestClient) => c.all<OpsDelta>('ops:delta');
  const callsSeen = (c: TestClient, id: string) => deltas(c).flatMap((d) => d.calls.filter((x) => x.id === id));

  it('with nobody joined, P:ops:watched is absent and no call change is published', async () => {
    const listener = new Redis(stack.env.REDIS_URL!);
    const heard: string[] = [];
    try {
      listener.on('message', (_ch: string, msg: string) => heard.push(msg));
      await listener.subscribe(stack.keys.opsCalls);
      const d = await client('driver', 1);
      await ok(d, 'driver:online', placeAt(5));
      const r = await client('passenger', 1);
      const call = await request(r, placeAt(5));
      await d.next<Offer>('offer', (o) => o.callId === call.id);
      await ok(d, 'offer:accept', { callId: call.id });
      await r.next<Call>('call:status', (c) => c.id === call.id && c.status === 'dispatched');
      // A marker of our own on the channel bounds the wait: the ride's changes came before it.
      await stack.redis.publish(stack.keys.opsCalls, 'marker');
      await until(() => heard.includes('marker'), 'the marker to come back');
      expect(heard, 'nothing but the marker').to.deep.equal(['marker']);
      expect(await stack.redis.exists(stack.keys.opsWatched)).to.equal(0);
      await ok(d, 'trip:arrived', { callId: call.id });
      await ok(d, 'trip:start', { callId: call.id });
      await ok(d, 'trip:complete', { callId: call.id });
      await ok(d, 'driver:offline');
    } finally {
      listener.disconnect();
    }
  });

  it('anyone but an admin is FORBIDDEN, over the socket and REST; an admin gets the snapshot over REST', async () => {
    for (const role of ['passenger', 'driver'] as const) {
      const c = await client(role, 0);
      const res = await c.emit('ops:join', {});
      expect(res.ok).to.equal(false);
      if (!res.ok) expect(res.error.code).to.equal('FORBIDDEN');
      const left = await c.emit('ops:leave', {});
      expect(left.ok).to.equal(false);
      if (!left.ok) expect(left.error.code).to.equal('FORBIDDEN');
      restError(await rest(stack.gateways[1]!.url, 'GET', '/api/ops/snapshot', { id: c.id, role }), 403, 'FORBIDDEN');
    }
    const res = await rest(stack.gateways[1]!.url, 'GET', '/api/ops/snapshot', ADMIN);
    expect(res.status).to.equal(200);
    expect(res.body).to.have.all.keys('at', 'drivers', 'calls', 'summary', 'truncated');
    expect(res.body.truncated).to.deep.equal({ drivers: false, calls: false });
  });

  it('snapshot and deltas across nodes: moves, calls, gone, two admins without duplicates, leave', async () => {
    // Before anyone joins: a driver and an open call on gateway B.
    const place = placeAt(1);
    const d = await client('driver', 1);
    await ok(d, 'driver:online', place);
    const r = await client('passenger', 1);
    const waiting = await request(r, LONELY);

    const a = await client('admin', 0);
    const snap = await ok<OpsSnapshot>(a, 'ops:join');
    const mine = snap.drivers.find((x) => x.driverId === d.id);
    expect(mine, 'the driver on B in the snapshot').to.include({ status: 'available', away: false, lat: place.lat, lng: place.lng, callId: null, suspended: false });
    expect(snap.calls.map((c) => c.id)).to.include(waiting.id);
    expect(snap.summary.drivers.online).to.be.at.least(1);
    expect(snap.truncated).to.deep.equal({ drivers: false, calls: false });
    expect(await stack.redis.exists(stack.keys.opsWatched)).to.equal(1);

    // A driver on B moves: a delta on A names it at its new position.
    const moved = { lat: place.lat + 0.001, lng: place.lng };
    await ok(d, 'driver:location', moved);
    await a.next<OpsDelta>('ops:delta', (x) => x.drivers.some((y) => y.driverId === d.id && y.lat === moved.lat));

    // A second admin, on B.
    const b = await client('admin', 1);
    await ok<OpsSnapshot>(b, 'ops:join');
    await ok(r, 'call:cancel', { callId: waiting.id });
    // Every process reads P:ops:watched at most once a second: throwaway calls until both admins see one.
    const warm = new Set<string>();
    await until(async () => {
      const c = await request(r, LONELY);
      warm.add(c.id);
      await ok(r, 'call:cancel', { callId: c.id });
      const seen = (x: TestClient) => deltas(x).some((y) => y.calls.some((z) => warm.has(z.id) && z.status === 'cancelled'));
      return (seen(a) && seen(b)) || undefined;
    }, 'both admins to see a throwaway call cancelled', 20000, 200);

    // A ride on B: requested, offered (by the dispatcher), dispatched (by B).
    const call = await request(r, place);
    await d.next<Offer>('offer', (o) => o.callId === call.id);
    await ok(d, 'offer:accept', { callId: call.id });
    for (const admin of [a, b]) {
      await admin.next<OpsDelta>('ops:delta', (x) => x.calls.some((c) => c.id === call.id && c.status === 'dispatched'));
      await admin.next<OpsDelta>('ops:delta', (x) => x.drivers.some((y) => y.driverId === d.id && y.status === 'busy' && y.callId === call.id));
    }
    for (const admin of [a, b]) {
      for (const delta of deltas(admin)) {
        const ids = delta.calls.map((c) => c.id);
        expect(new Set(ids).size, 'each call once per delta').to.equal(ids.length);
      }
      const seqs = callsSeen(admin, call.id).map((c) => c.seq);
      expect(new Set(seqs).size, `${admin.id}: each state of the call once`).to.equal(seqs.length);
      expect([...seqs].sort((x, y) => x - y), 'in order').to.deep.equal(seqs);
      const statuses = callsSeen(admin, call.id).map((c) => c.status);
      expect(statuses.every((s) => ['requested', 'offered', 'dispatched'].includes(s)), statuses.join()).to.equal(true);
    }

    // The trip ends and the driver goes offline: `gone`.
    await ok(d, 'trip:arrived', { callId: call.id });
    await ok(d, 'trip:start', { callId: call.id });
    await ok(d, 'trip:complete', { callId: call.id });
    await ok(d, 'driver:offline');
    for (const admin of [a, b]) await admin.next<OpsDelta>('ops:delta', (x) => x.gone.includes(d.id));

    // B leaves; a later delta to A proves the feed went on without it.
    await ok(b, 'ops:leave');
    const before = deltas(b).length;
    const d2 = await client('driver', 1);
    await ok(d2, 'driver:online', placeAt(2));
    await a.next<OpsDelta>('ops:delta', (x) => x.drivers.some((y) => y.driverId === d2.id));
    const more = await request(r, LONELY);
    await a.next<OpsDelta>('ops:delta', (x) => x.calls.some((c) => c.id === more.id));
    expect(deltas(b).length, 'no delta after ops:leave').to.equal(before);
    expect(await stack.redis.exists(stack.keys.opsWatched)).to.equal(1);
    await ok(r, 'call:cancel', { callId: more.id });
  });

  it('a driver\'s offer, trip, suspension, lift and disconnect each reach the feed (offered, busy, suspended, away)', async () => {
    const FAR = { lat: 35.1, lng: 129.0 };
    const d = await client('driver', 1);
    await ok(d, 'driver:online', FAR);
    const r = await client('passenger', 1);
    const a = await client('admin', 0);
    await ok<OpsSnapshot>(a, 'ops:join');
    const shows = (what: string, pred: (x: OpsDelta['drivers'][number]) => boolean) =>
      a.next<OpsDelta>('ops:delta', (x) => x.drivers.some((y) => y.driverId === d.id && pred(y)), 15000).catch(() => {
        throw new Error(`no ops:delta showed ${d.id} ${what}`);
      });

    // Offered, then answered: the flag goes up and down.
    const first = await request(r, FAR);
    await d.next<Offer>('offer', (o) => o.callId === first.id);
    await shows('offered', (y) => y.offered && y.status === 'available');
    await ok(d, 'offer:reject', { callId: first.id });
    await shows('no longer offered after its reject', (y) => !y.offered && y.status === 'available');
    await ok(r, 'call:cancel', { callId: first.id });

    // Offered again and accepted: busy on the trip, no offer.
    const call = await request(r, FAR);
    await d.next<Offer>('offer', (o) => o.callId === call.id);
    await ok(d, 'offer:accept', { callId: call.id });
    await shows('busy on its trip', (y) => y.status === 'busy' && y.callId === call.id && !y.offered);

    // Suspended during the trip (it finishes it), then lifted: both show without the driver moving.
    const admin = { id: ADMIN.id, role: 'admin' as const };
    const sus = await rest(stack.gateways[1]!.url, 'POST', `/api/drivers/${d.id}/suspend`, admin, { reason: 'check' });
    expect(sus.status, JSON.stringify(sus.body)).to.equal(200);
    await shows('suspended on its trip', (y) => y.suspended && y.status === 'busy');
    const lift = await rest(stack.gateways[0]!.url, 'POST', `/api/drivers/${d.id}/lift`, admin, { reason: 'ok' });
    expect(lift.status, JSON.stringify(lift.body)).to.equal(200);
    await shows('lifted', (y) => !y.suspended && y.status === 'busy');

    // The gateway's heartbeat carries the request → dispatched histogram, summed by the summary.
    await until(async () => {
      const res = await rest(stack.gateways[0]!.url, 'GET', '/api/ops/summary', admin);
      const f = (res.body as OpsSummary).totals.figures;
      return ((f['toDispatch.count'] ?? 0) >= 1 && f['toDispatch.le.+Inf'] === f['toDispatch.count'] && (f['toDispatch.sum'] ?? -1) >= 0) || undefined;
    }, 'the summary to count the dispatch in toDispatch', 15000, 200);

    // Its socket closes: away, in its grace period.
    d.close();
    await shows('away', (y) => y.away);
  });

  it("a driver offered before the first admin joined: its offer's end still reaches the feed", async () => {
    const FAR = { lat: 35.5, lng: 129.3 };
    // A gateway whose feed is idle: nobody joined there yet in this test.
    await Promise.all(clients.filter((c) => c.id.startsWith('a')).map((c) => c.emit('ops:leave', {})));
    const d = await client('driver', 0);
    await ok(d, 'driver:online', FAR);
    const r = await client('passenger', 0);
    const call = await request(r, FAR);
    await d.next<Offer>('offer', (o) => o.callId === call.id);
    // The offer must be older than the feed's re-read window (OVERLAP_MS) when the feed starts: the
    // case this covers is the clock having moved past it, so the wait is for the clock itself.
    const offeredAt = Date.now();
    await until(() => Date.now() > offeredAt + OVERLAP_MS + 200 || undefined, 'the clock to pass the overlap', 5000, 50);
    const a = await client('admin', 1);
    const snap = await ok<OpsSnapshot>(a, 'ops:join');
    expect(snap.drivers.find((x) => x.driverId === d.id), 'offered in the snapshot').to.include({ offered: true });
    await ok(d, 'offer:reject', { callId: call.id });
    await a.next<OpsDelta>('ops:delta', (x) => x.drivers.some((y) => y.driverId === d.id && !y.offered), 15000);
    await ok(r, 'call:cancel', { callId: call.id });
  });
});
