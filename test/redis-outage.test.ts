/**
 * Redis down and back: a private redis-server (AOF, fsync always) is killed and restarted under a
 * running stack. While it is down, requests are answered UNAVAILABLE (never a hang), /readyz says
 * 503 and every process stays up; when it is back everything recovers by itself.
 */
import { expect } from 'chai';
import type { Call } from '../protocol/index.js';
import { connect, DROPOFF, placeAt, rest, type TestClient } from './support/clients.js';
import { startRedis, type RedisServer } from '../server/devkit/redis.js';
import { readLedger } from './support/ledger.js';
import { startStack, type Stack } from './support/stack.js';
import { until } from './support/wait.js';

describe('Redis down and back', function () {
  this.timeout(90000);
  let redis: RedisServer;
  let stack: Stack;
  const clients: TestClient[] = [];

  before(async () => {
    // AOF with fsync always: a kill -9 keeps every acknowledged write.
    redis = await startRedis({ appendfsync: 'always' });
    stack = await startStack({
      env: { REDIS_URL: redis.url, REDIS_TIMEOUT_MS: 1000, WORKER_WATCHDOG_MS: 1500, OFFER_TIMEOUT_MS: 60000, LEDGER_CLAIM_IDLE_MS: 500 },
    });
  });
  after(async () => {
    for (const c of clients) c.close();
    try {
      await redis.up().catch(() => undefined);
      await stack?.stop();
    } finally {
      await redis?.stop(); // also removes its AOF folder
    }
  });

  const status = async (url: string, path: string) => (await fetch(url + path)).status;
  const nodes = () => [...stack.gateways, ...stack.dispatchers].map((a) => a.url);

  it('answers UNAVAILABLE within the deadline while Redis is down, and recovers without a restart', async () => {
    const place = placeAt(1);
    const [d1, d2] = [await connect(stack.gateways[1]!.url, 'od1', 'driver'), await connect(stack.gateways[0]!.url, 'od2', 'driver')];
    const [r1, r2] = [await connect(stack.gateways[0]!.url, 'or1', 'passenger'), await connect(stack.gateways[1]!.url, 'or2', 'passenger')];
    clients.push(d1, d2, r1, r2);
    await d1.emit('driver:online', place);
    const first = await r1.emit<Call>('call:request', { requestId: 'a', pickup: place, dropoff: DROPOFF });
    if (!first.ok) throw new Error(JSON.stringify(first.error));
    await d1.next('offer', (o: { callId: string }) => o.callId === first.data.id);
    expect((await d1.emit<Call>('offer:accept', { callId: first.data.id })).ok).to.equal(true);

    await redis.kill();
    // Socket and REST requests are answered (UNAVAILABLE), not left hanging: the ack deadline is 3 s.
    for (let i = 0; i < 3; i++) {
      const res = await r2.emit('call:request', { requestId: 'b', pickup: place, dropoff: DROPOFF }, 3000);
      expect(!res.ok && res.error.code).to.equal('UNAVAILABLE');
    }
    const viaRest = await rest(stack.gateways[0]!.url, 'POST', '/api/calls', { id: 'or3', role: 'passenger' }, { requestId: 'c', pickup: place, dropoff: DROPOFF });
    expect([viaRest.status, viaRest.body.error?.code]).to.deep.equal([503, 'UNAVAILABLE']);
    for (const url of nodes()) {
      expect(await status(url, '/readyz'), `${url} /readyz`).to.equal(503);
      expect(await status(url, '/healthz'), `${url} /healthz`).to.equal(200);
    }
    // Long enough for the dispatcher's watchdog to give up on its worker and make a new one.
    await until(async () => /_total [1-9]/.test(await stack.dispatchers[0]!.metrics.registry.getSingleMetricAsString('dispatch_worker_restarts_total')), 'the watchdog to restart the worker', 20000, 100);

    await redis.up();
    for (const url of nodes()) await until(async () => (await status(url, '/readyz')) === 200, `${url} ready again`, 30000, 100);

    // The same request now goes through (the breaker closes again) and is dispatched.
    await d2.emit('driver:online', place);
    const again = await until(async () => {
      const res = await r2.emit<Call>('call:request', { requestId: 'b', pickup: place, dropoff: DROPOFF }, 3000);
      return res.ok ? res.data : null;
    }, 'a request to succeed after Redis is back', 30000, 200);
    await d2.next('offer', (o: { callId: string }) => o.callId === again.id, 30000);
    expect(await d2.emit<Call>('offer:accept', { callId: again.id })).to.deep.include({ ok: true });
    await r2.next<Call>('call:status', (c) => c.id === again.id && c.status === 'dispatched');

    // What was acknowledged before the outage is still there, and nobody was assigned twice.
    const kept = JSON.parse((await stack.redis.hget(stack.keys.call(first.data.id), 'json')) as string) as Call;
    expect(kept).to.include({ status: 'dispatched', driverId: 'od1' });
    expect(await stack.redis.hget(stack.keys.driver('od2'), 'callId')).to.equal(again.id);
    await until(() => readLedger(stack.env.DB_PATH!).calls.find((c) => c.id === again.id)?.status === 'dispatched', 'the ledger to catch up', 20000, 100);
    expect(await stack.dispatchers[0]!.metrics.registry.getSingleMetricAsString('dispatch_ledger_assignment_conflicts_total')).to.match(/_total 0$/m);
  });
});
