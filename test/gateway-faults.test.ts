/**
 * Gateways dying and restarting under real clients: kill -9, a host that vanishes without closing
 * its sockets, and a rolling restart of every process under load. Gateways and the dispatcher are
 * real processes behind a TCP load balancer; clients use socket.io-client's normal reconnection.
 */
import { expect } from 'chai';
import type { Call, Offer, Response } from '../protocol/index.js';
import { connect, DROPOFF, placeAt, type TestClient } from './support/clients.js';
import { freePort, testEnv } from './support/env.js';
import { TcpBalancer } from './support/proxy.js';
import { spawnNode, type NodeProcess } from './support/stack.js';
import { until } from './support/wait.js';
import { Redis } from 'ioredis';
import { cleanPrefix } from '../server/devkit/prefix.js';
import { makeKeys } from '../server/redis/keys.js';

const forCall = (id: string) => (o: { callId: string }) => o.callId === id;

describe('gateway faults', function () {
  this.timeout(120000);
  let env: Record<string, string>;
  let redis: Redis;
  let lb: TcpBalancer;
  let procs: NodeProcess[];
  let clients: TestClient[];
  const keys = () => makeKeys(env.KEY_PREFIX!);

  async function gatewaysAndDispatcher(overrides: Record<string, string | number> = {}) {
    env = testEnv({ OFFER_TIMEOUT_MS: 60000, JOB_LOCK_MS: 1000, LEDGER_CLAIM_IDLE_MS: 500, ...overrides });
    redis = new Redis(env.REDIS_URL!);
    const ports = [await freePort(), await freePort(), await freePort()];
    procs = await Promise.all([spawnNode('gateway', env, ports[0]!), spawnNode('gateway', env, ports[1]!), spawnNode('dispatcher', env, ports[2]!)]);
    lb = await TcpBalancer.start([ports[0]!, ports[1]!]);
    clients = [];
  }
  async function user(id: string, role: 'driver' | 'passenger') {
    const c = await connect(lb.url, id, role, { reconnection: true });
    clients.push(c);
    return c;
  }
  const stored = async (id: string) => JSON.parse((await redis.hget(keys().call(id), 'json')) as string) as Call;

  afterEach(async () => {
    for (const c of clients) c.close();
    for (const p of procs) {
      p.child.kill('SIGCONT');
      await p.kill9();
    }
    await lb.stop();
    await cleanPrefix(redis, env.KEY_PREFIX!);
    redis.disconnect();
  });

  it('kill -9 a gateway mid-accept: clients reconnect to the other, get the resync, and every accept took effect or failed, never half', async () => {
    await gatewaysAndDispatcher();
    const calls: { call: Call; rider: TestClient; drivers: TestClient[] }[] = [];
    for (let i = 0; i < 6; i++) {
      const drivers = [await user(`kd${i}a`, 'driver'), await user(`kd${i}b`, 'driver')];
      for (const d of drivers) await d.emit('driver:online', placeAt(i));
      const rider = await user(`kr${i}`, 'passenger');
      const res = await rider.emit<Call>('call:request', { requestId: 'k', pickup: placeAt(i), dropoff: DROPOFF });
      if (!res.ok) throw new Error(JSON.stringify(res.error));
      for (const d of drivers) await d.next<Offer>('offer', forCall(res.data.id));
      calls.push({ call: res.data, rider, drivers });
    }
    // Every driver accepts at once, and gateway 1 dies while the accepts are in flight.
    const acks = calls.flatMap(({ call, drivers }) =>
      drivers.map((d) => d.emit<Call>('offer:accept', { callId: call.id }, 5000).catch((): Response<Call> => ({ ok: false, error: { code: 'INTERNAL', message: 'no ack (connection lost)' } }))),
    );
    await procs[0]!.kill9();
    const results = await Promise.all(acks);
    await until(() => clients.every((c) => c.socket.connected), 'every client to reconnect through the balancer', 30000, 50);

    let k = 0;
    for (const { call, rider, drivers } of calls) {
      const mine = drivers.map(() => results[k++]!);
      const s = await stored(call.id);
      expect(s.status, `call ${call.id}`).to.equal('dispatched');
      const winner = drivers.find((d) => d.id === s.driverId);
      expect(winner, 'the winner is one of the offered drivers').to.not.equal(undefined);
      mine.forEach((ack, j) => {
        if (ack.ok) expect(ack.data.driverId).to.equal(drivers[j]!.id).and.to.equal(s.driverId);
      });
      // Whatever its ack said, the winner knows it won (push or resync) and the rider knows too.
      await winner!.next<Call>('trip:status', (c) => c.id === call.id && c.driverId === winner!.id, 20000);
      await rider.next<Call>('call:status', (c) => c.id === call.id && c.status === 'dispatched', 20000);
    }
  });

  it('a gateway that vanishes without closing its sockets is detected by the heartbeat; clients move to another', async () => {
    await gatewaysAndDispatcher({ SOCKET_PING_INTERVAL_MS: 1000, SOCKET_PING_TIMEOUT_MS: 1000 });
    const riders = [await user('hr0', 'passenger'), await user('hr1', 'passenger')];
    const d = await user('hd0', 'driver');
    await d.emit('driver:online', placeAt(3));
    const res = await riders[0]!.emit<Call>('call:request', { requestId: 'h', pickup: placeAt(3), dropoff: DROPOFF });
    if (!res.ok) throw new Error('request failed');
    await d.next('offer', forCall(res.data.id));
    const reasons: string[] = [];
    for (const c of clients) c.socket.on('disconnect', (reason) => reasons.push(reason));

    // Freeze gateway 2 (the host is gone: no FIN, no RST); the balancer's health check drops it.
    procs[1]!.child.kill('SIGSTOP');
    lb.backends = [lb.backends[0]!];
    await until(() => reasons.length > 0, 'a client of the frozen gateway to notice', 15000, 50);
    expect(reasons.every((r) => r === 'ping timeout')).to.equal(true);
    await until(() => clients.every((c) => c.socket.connected), 'clients to reconnect to the live gateway', 15000, 50);
    // The resync on the new node: the rider's call, the driver's live offer.
    const seenRider = riders[0]!.all<Call>('call:status').filter((c) => c.id === res.data.id).length;
    const seenOffers = d.all<Offer>('offer').length;
    expect(seenRider + seenOffers).to.be.greaterThan(2);
  });

  it('a rolling restart of every process under load loses no call and breaks no invariant', async () => {
    await gatewaysAndDispatcher({ OFFER_TIMEOUT_MS: 5000, SHUTDOWN_TIMEOUT_MS: 5000 });
    const place = placeAt(5);
    const drivers = await Promise.all(Array.from({ length: 8 }, (_, i) => user(`rd${i}`, 'driver')));
    const riders = await Promise.all(Array.from({ length: 6 }, (_, i) => user(`rr${i}`, 'passenger')));
    const wins = new Map<string, Set<string>>(); // callId → drivers whose accept was acked ok
    const acked = new Set<string>();
    let running = true;

    /** Retry an action through disconnects and UNAVAILABLE, as a real app would. */
    async function reliably<T>(c: TestClient, event: string, payload: unknown, done: (r: Response<T>) => boolean): Promise<Response<T>> {
      return until(async () => {
        if (!c.socket.connected) return null;
        const r = await c.emit<T>(event, payload, 3000).catch(() => null);
        return r && done(r) ? r : null;
      }, `${c.id} ${event}`, 60000, 100);
    }
    const transient = (r: Response<unknown>) => r.ok || !['UNAVAILABLE', 'INTERNAL', 'RATE_LIMITED'].includes(r.error.code);

    // Drivers: accept every offer; run every trip they win (also one learnt from a resync).
    const onTrip = new Set<string>();
    async function runTrip(d: TestClient, callId: string) {
      if (onTrip.has(d.id)) return;
      onTrip.add(d.id);
      try {
        for (const step of ['trip:arrived', 'trip:start', 'trip:complete']) await reliably(d, step, { callId }, transient);
      } finally {
        onTrip.delete(d.id);
      }
    }
    for (const d of drivers) {
      await reliably(d, 'driver:online', { lat: place.lat + Math.random() * 0.01, lng: place.lng }, (r) => r.ok);
      d.socket.on('connect', () => void reliably(d, 'driver:online', { lat: place.lat, lng: place.lng }, transient));
      d.socket.on('offer', (o) => {
        void d.emit<Call>('offer:accept', { callId: o.callId }, 3000).then((r) => {
          if (!r.ok) return;
          // A driver may see one offer twice (the resend of a re-run match job, a resync) and accept
          // both times: the second is a retried accept, acked ok by the same script. Count drivers.
          wins.set(o.callId, (wins.get(o.callId) ?? new Set()).add(d.id));
          void runTrip(d, o.callId);
        }, () => undefined);
      });
      d.socket.on('trip:status', (c) => {
        if (c.driverId === d.id && c.status !== 'completed' && c.status !== 'cancelled') void runTrip(d, c.id);
      });
    }
    // Riders: call, wait for the end of the ride, call again, until told to stop.
    const riderLoops = riders.map(async (r, i) => {
      for (let n = 0; running; n++) {
        const res = await reliably<Call>(r, 'call:request', { requestId: `roll-${i}-${n}`, pickup: place, dropoff: DROPOFF }, (x) => x.ok);
        if (!res.ok) continue;
        acked.add(res.data.id);
        // The end of the ride is pushed; a rider who was reconnecting just then asks (call:get).
        const ended = (c: Call | undefined) => !!c && ['completed', 'unfulfilled', 'cancelled'].includes(c.status);
        await until(async () => {
          if (r.all<Call>('call:status').some((c) => c.id === res.data.id && ended(c))) return true;
          const got = r.socket.connected ? await r.emit<Call>('call:get', { callId: res.data.id }, 3000).catch(() => null) : null;
          return got?.ok && ended(got.data);
        }, `the end of ${res.data.id} (status when the wait began: ${(await stored(res.data.id)).status})`, 60000, 250);
      }
    });

    // Restart every process, one at a time, while the load runs.
    await until(() => acked.size >= 6, 'the load to get going', 30000);
    for (let i = 0; i < procs.length; i++) {
      const old = procs[i]!;
      const port = Number(new URL(old.url).port);
      await old.stop(); // SIGTERM: drain, then exit
      expect(old.child.exitCode, `process ${i} exit code`).to.equal(0);
      procs[i] = await spawnNode(i < 2 ? 'gateway' : 'dispatcher', env, port);
      const before = acked.size;
      await until(() => acked.size >= before + 3, 'calls to flow again after the restart', 60000);
    }
    running = false;
    await Promise.all(riderLoops);

    // Invariants over everything the clients saw and Redis holds.
    for (const [callId, ws] of wins) expect([...ws], `winners of ${callId}`).to.have.length(1);
    for (const id of acked) {
      const s = await stored(id);
      expect(['completed', 'unfulfilled'], `call ${id} ended ${s.status}`).to.include(s.status);
      if (s.status === 'completed') expect([...(wins.get(id) ?? [s.driverId])]).to.deep.equal([s.driverId]);
    }
    expect([...acked].filter((id) => wins.has(id)).length).to.be.greaterThan(6);
  });
});
