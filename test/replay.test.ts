/**
 * Replay of a call (protocol 1.5.0) on a stack of two gateways and a separate dispatcher, on both
 * ledger backends: the assigned driver's thinned track (driver-location.lua, kind=track entries,
 * call_tracks) and GET /api/calls/:id/replay (the call, its timeline, its track). Points only while
 * on a trip; one per TRACK_SAMPLE_MS in script time (driven here by the `now` a command is given,
 * never by sleeping); at most TRACK_MAX_POINTS per trip; a back-out then another driver gives two
 * trips told apart by their generation. Who may read it, and a SQLite ROLE=gateway's 503.
 */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { App } from '../server/app.js';
import { createApp } from '../server/app.js';
import { loadConfig } from '../server/config.js';
import { makeCommands, matchSettings, type Commands } from '../server/redis/commands.js';
import type { Call, CallReplay, Offer, UserRole } from '../protocol/index.js';
import { connect, DROPOFF, PICKUP, rest, restError, type TestClient } from './support/clients.js';
import { testConfig } from './support/env.js';
import { BACKENDS, testStore, type TestStore } from './support/ledger.js';
import { startStack, type Stack } from './support/stack.js';
import { until } from './support/wait.js';

const ADMIN = { id: 'ops-1', role: 'admin' as UserRole };
const north = (metres: number) => ({ lat: PICKUP.lat + metres / 111_000, lng: PICKUP.lng });
const forCall = (id: string) => (o: { callId: string }) => o.callId === id;

interface TrackRow { gen: number; seq: number; driverId: string; lat: number; lng: number; at: string }

for (const backend of BACKENDS) {
  describe(`replay of a call (${backend})`, function () {
    this.timeout(60000);
    let store: TestStore;
    let stack: Stack | undefined;
    let redis: Redis | undefined;
    let commands: Commands;
    const clients: TestClient[] = [];
    let n = 0;

    beforeEach(async () => {
      store = await testStore(backend);
      stack = await startStack({
        gateways: 2, dispatchers: 1,
        env: { ...store.env, OFFER_TIMEOUT_MS: 60000, OFFER_WAVE_SIZE: 1, CALL_TIMEOUT_MS: 60000, MATCH_RADIUS_M: 3000, RATE_LIMIT_PER_S: 0, LOCATION_RATE_LIMIT_PER_S: 0, TRACK_SAMPLE_MS: 1000 },
      });
      redis = new Redis(stack.env.REDIS_URL!);
      commands = makeCommands(redis, stack.keys, matchSettings(loadConfig(stack.env)));
    });
    afterEach(async () => {
      for (const c of clients.splice(0)) c.close();
      await stack?.stop();
      stack = undefined;
      redis?.disconnect();
      await store.drop();
    });

    const gw = (node: number) => stack!.gateways[node]!.url;
    const user = async (node: number, id: string, role: UserRole) => {
      const c = await connect(gw(node), id, role);
      clients.push(c);
      return c;
    };
    const ok = async <T>(c: TestClient, event: string, payload: unknown): Promise<T> => {
      const res = await c.emit<T>(event, payload);
      if (!res.ok) throw new Error(`${event}: ${JSON.stringify(res.error)}`);
      return res.data;
    };
    const driver = async (node: number, id: string, at: { lat: number; lng: number }) => {
      const d = await user(node, id, 'driver');
      expect(await ok(d, 'driver:online', at)).to.deep.equal({ status: 'available' });
      return d;
    };
    const request = async (r: TestClient) => ok<Call>(r, 'call:request', { requestId: `q${++n}`, pickup: PICKUP, dropoff: DROPOFF });

    /** The call_tracks rows of a call, by gen then seq. */
    async function rows(callId: string): Promise<TrackRow[]> {
      const found = await store.query<TrackRow>(
        backend === 'sqlite'
          ? 'SELECT gen, seq, driver_id AS "driverId", lat, lng, at FROM call_tracks WHERE call_id = ? ORDER BY gen, seq'
          : 'SELECT gen, seq, driver_id AS "driverId", lat, lng, at FROM call_tracks WHERE call_id = $1 ORDER BY gen, seq',
        [callId],
      ).catch(() => []);
      return found.map((r) => ({ ...r, at: new Date(r.at).toISOString() }));
    }
    /** The call's track rows once there are `count` of them. */
    const rowsOnce = (callId: string, count: number) => until(async () => {
      const found = await rows(callId);
      return found.length >= count ? found : undefined;
    }, `${count} track points of ${callId}`, 15000, 50);
    /** The kind=track entries of the ledger stream not written yet, and the written rows: every point the scripts made so far. */
    const streamTracks = async () => (await redis!.xrange(stack!.keys.ledger, '-', '+')).filter(([, f]) => f[1] === 'track').length;

    /** A process that reads the ledger: any gateway with PostgreSQL; with SQLite one of ROLE=all. */
    async function reader(): Promise<App> {
      if (backend === 'postgres') return stack!.gateways[1]!;
      const all = await createApp(testConfig(stack!.env, 'all'));
      stack!.dispatchers.push(all);
      return all;
    }

    /** A rider's call dispatched to a driver on another gateway. */
    async function dispatched(riderId: string, driverId: string) {
      const d = await driver(1, driverId, north(100));
      const rider = await user(0, riderId, 'passenger');
      const call = await request(rider);
      await d.next<Offer>('offer', forCall(call.id));
      await ok<Call>(d, 'offer:accept', { callId: call.id });
      return { d, rider, call };
    }

    it('a ride across two gateways: points only during the trip, one per TRACK_SAMPLE_MS; the replay answers the call, its timeline and its track', async () => {
      const d = await driver(1, 'd-1', north(100));
      // Before any call: positions move the driver, and no track is kept.
      await ok(d, 'driver:location', north(90));
      const rider = await user(0, 'rider-1', 'passenger');
      const call = await request(rider);
      await d.next<Offer>('offer', forCall(call.id));
      await ok(d, 'driver:location', north(80)); // offered, not yet on the trip
      expect(await streamTracks()).to.equal(0);
      expect(await rows(call.id)).to.deep.equal([]);
      await ok<Call>(d, 'offer:accept', { callId: call.id });

      // On the trip: the first report is point 1 …
      await ok(d, 'driver:location', north(70));
      const [first] = await rowsOnce(call.id, 1);
      expect(first).to.deep.include({ gen: 1, seq: 1, driverId: 'd-1', lat: north(70).lat, lng: north(70).lng });
      // … and reporting again, the next point appears only once the sample interval has passed (by the server's clock).
      let m = 60;
      const second = await until(async () => {
        await ok(d, 'driver:location', north(m--));
        const found = await rows(call.id);
        return found.length >= 2 ? found : undefined;
      }, 'a second track point', 15000, 50);
      expect(Date.parse(second[1]!.at) - Date.parse(second[0]!.at)).to.be.at.least(1000);
      expect(second.map((p) => p.seq)).to.deep.equal([1, 2]);

      await ok(d, 'trip:arrived', { callId: call.id });
      await ok(d, 'trip:start', { callId: call.id });
      await ok(d, 'trip:complete', { callId: call.id });
      const done = await rider.next<Call>('call:status', (c) => c.id === call.id && c.status === 'completed');
      // After the trip: no more points, whatever the time (a report far in the script's future).
      await commands.driverLocation({ driverId: 'd-1', pos: north(10), now: Date.now() + 3_600_000, pushEveryMs: 1000, track: { sampleMs: 1000, maxPoints: 720 } });
      await ok(d, 'driver:location', north(20));

      const read = await reader();
      const replay = await until(async () => {
        const res = await rest(read.url, 'GET', `/api/calls/${call.id}/replay`, { id: 'rider-1', role: 'passenger' });
        const body = res.body as CallReplay;
        return res.status === 200 && body.call.status === 'completed' ? body : undefined;
      }, 'the replay of the completed call', 15000, 50);
      expect(replay.callId).to.equal(call.id);
      expect(replay.call).to.deep.equal(done);
      expect(replay.events.map((e) => e.status)).to.deep.equal(['requested', 'offered', 'dispatched', 'arrived', 'in_progress', 'completed']);
      const track = await rows(call.id);
      expect(track, 'nothing kept after the trip').to.have.length(second.length);
      expect(replay.track).to.deep.equal(track);
      expect(await streamTracks(), 'every point written').to.equal(0);

      // The assigned driver and an admin may read it; another passenger or driver may not.
      expect((await rest(read.url, 'GET', `/api/calls/${call.id}/replay`, { id: 'd-1', role: 'driver' })).status).to.equal(200);
      expect((await rest(read.url, 'GET', `/api/calls/${call.id}/replay`, ADMIN)).status).to.equal(200);
      restError(await rest(read.url, 'GET', `/api/calls/${call.id}/replay`, { id: 'rider-2', role: 'passenger' }), 403, 'FORBIDDEN');
      restError(await rest(read.url, 'GET', `/api/calls/${call.id}/replay`, { id: 'd-2', role: 'driver' }), 403, 'FORBIDDEN');
      restError(await rest(read.url, 'GET', '/api/calls/no-such-call/replay', ADMIN), 404, 'NOT_FOUND');

      if (backend === 'sqlite') {
        // A ROLE=gateway process cannot read a dispatcher's SQLite file: 503 UNAVAILABLE, as /history.
        for (const g of stack!.gateways) {
          const msg = restError(await rest(g.url, 'GET', `/api/calls/${call.id}/replay`, { id: 'rider-1', role: 'passenger' }), 503, 'UNAVAILABLE');
          expect(msg).to.match(/ROLE=all|DATABASE_URL/);
        }
      }
    });

    it('thinning in script time: 10 reports 300 ms apart keep 3 points; TRACK_MAX_POINTS bounds a trip', async () => {
      const { call } = await dispatched('rider-t', 'd-t');
      const t0 = Date.now() + 60_000;
      const at = (ms: number) => ({ driverId: 'd-t', pos: north(ms / 100), now: t0 + ms, pushEveryMs: 1000, track: { sampleMs: 1000, maxPoints: 720 } });
      for (let i = 0; i < 10; i++) await commands.driverLocation(at(i * 300));
      // Kept: 0, then the first at least 1000 ms after it (1200), then after that (2400).
      const kept = await rowsOnce(call.id, 3);
      expect(kept.map((p) => [p.seq, Date.parse(p.at) - t0])).to.deep.equal([[1, 0], [2, 1200], [3, 2400]]);

      // The bound: with at most 5 points, reports a second apart add 2 more, then nothing.
      for (let i = 0; i < 6; i++) await commands.driverLocation({ ...at(4000 + i * 1000), track: { sampleMs: 1000, maxPoints: 5 } });
      await rowsOnce(call.id, 5);
      expect(await streamTracks()).to.equal(0);
      const bounded = await rows(call.id);
      expect(bounded.map((p) => p.seq)).to.deep.equal([1, 2, 3, 4, 5]);
      expect(Date.parse(bounded[4]!.at) - t0).to.equal(5000);

      // TRACK_SAMPLE_MS=0 keeps none.
      await commands.driverLocation({ ...at(20_000), track: { sampleMs: 0, maxPoints: 720 } });
      expect(await streamTracks()).to.equal(0);
      expect(await rows(call.id)).to.have.length(5);
    });

    it('a back-out, then another driver: two trips, each with its generation and its own points', async () => {
      const { d: d1, rider, call } = await dispatched('rider-b', 'd-first');
      await ok(d1, 'driver:location', north(95));
      await rowsOnce(call.id, 1);
      await ok(d1, 'trip:cancel', { callId: call.id });
      await rider.next<Call>('call:status', (c) => c.id === call.id && c.status === 'offered');
      // The first driver is off the trip: its reports keep nothing more.
      await commands.driverLocation({ driverId: 'd-first', pos: north(5), now: Date.now() + 3_600_000, pushEveryMs: 1000, track: { sampleMs: 1000, maxPoints: 720 } });

      const d2 = await driver(0, 'd-second', north(300));
      await d2.next<Offer>('offer', forCall(call.id));
      await ok<Call>(d2, 'offer:accept', { callId: call.id });
      await ok(d2, 'driver:location', north(250));
      const both = await rowsOnce(call.id, 2);
      expect(both.map((p) => [p.gen, p.seq, p.driverId])).to.deep.equal([[1, 1, 'd-first'], [2, 1, 'd-second']]);

      const read = await reader();
      const replay = (await rest(read.url, 'GET', `/api/calls/${call.id}/replay`, ADMIN)).body as CallReplay;
      expect(replay.track).to.deep.equal(both);
      expect(replay.events.map((e) => e.status)).to.include.members(['dispatched', 'offered']);
    });

    it('Ledger.write takes track points beside call changes, each once (a replayed batch writes nothing twice); track() is oldest first', async () => {
      const ledger = store.open();
      const p = (gen: number, seq: number) => ({ callId: 'c-w', gen, seq, driverId: `d${gen}`, lat: 37.5, lng: 127, at: `2026-12-02T05:00:0${seq}.000Z` });
      expect(await ledger.write([], [], [p(2, 1), p(1, 2)])).to.deep.equal([]);
      expect(await ledger.write([], [], [p(1, 1), p(1, 2), p(2, 1)])).to.deep.equal([]);
      expect(await ledger.track('c-w')).to.deep.equal([p(1, 1), p(1, 2), p(2, 1)].map(({ callId: _, ...rest }) => rest));
      expect(await ledger.track('none')).to.deep.equal([]);
    });
  });
}
