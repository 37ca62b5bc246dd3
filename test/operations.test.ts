/**
 * Running it: /metrics, structured logs (one line per state change, with call id and node, no
 * secrets), the Redis settings warning, and a graceful stop that turns /readyz 503 at once and
 * makes clients reconnect.
 */
import { expect } from 'chai';
import { request, Agent } from 'node:http';
import type { Call } from '../protocol/index.js';
import { connect, DROPOFF, placeAt, rest, token } from './support/clients.js';
import { freePort, testEnv } from './support/env.js';
import { spawnNode, startStack } from './support/stack.js';
import { until } from './support/wait.js';
import { Redis } from 'ioredis';
import { cleanPrefix } from '../server/devkit/prefix.js';
import { InFlight } from '../server/inflight.js';

describe('operations', function () {
  this.timeout(60000);

  it('/metrics has sockets by role, transitions, offers, accepts, latencies, queue depth, ledger lag, Redis errors and circuit state', async () => {
    const stack = await startStack({ env: { METRICS_TOKEN: 'metrics-secret' } });
    try {
      const d = await connect(stack.gateways[1]!.url, 'md', 'driver');
      const r = await connect(stack.gateways[0]!.url, 'mr', 'passenger');
      await d.emit('driver:online', placeAt(1));
      const res = await r.emit<Call>('call:request', { requestId: 'm', pickup: placeAt(1), dropoff: DROPOFF });
      if (!res.ok) throw new Error('request failed');
      await d.next('offer');
      await d.emit('offer:accept', { callId: res.data.id });
      expect((await fetch(`${stack.gateways[1]!.url}/metrics`)).status).to.equal(401);
      const scrape = async (url: string) => (await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer metrics-secret' } })).text();
      const gw = await scrape(stack.gateways[1]!.url);
      expect(gw).to.match(/dispatch_sockets\{role="driver"\} 1/);
      expect(gw).to.match(/dispatch_accepts_total\{result="won"\} 1/);
      expect(gw).to.match(/dispatch_call_transitions_total\{status="dispatched"\} 1/);
      expect(gw).to.contain('dispatch_accept_to_notify_seconds_bucket');
      expect(gw, 'one wave was enough').to.contain('dispatch_waves_per_dispatch_bucket{le="1"} 1');
      expect(gw).to.contain('dispatch_redis_circuit_open{circuit="requests"} 0');
      expect(gw).to.contain('dispatch_redis_circuit_open{circuit="locations"} 0');
      const dispatcher = await until(async () => {
        const text = await scrape(stack.dispatchers[0]!.url);
        return /dispatch_offers_total [1-9]/.test(text) && text;
      }, 'the dispatcher to count its offers');
      for (const name of ['dispatch_request_to_offer_seconds_count 1', 'dispatch_queue_jobs{state="delayed"}', 'dispatch_ledger_lag', 'dispatch_call_timers', 'dispatch_stalled_jobs_total', 'dispatch_redis_errors_total', 'dispatch_worker_restarts_total', 'dispatch_ledger_assignment_conflicts_total',
        'dispatch_match_round_seconds_count', 'dispatch_match_round_calls_bucket{le="1"}', 'dispatch_offers_revoked_total']) {
        expect(dispatcher).to.contain(name);
      }
      d.close();
      r.close();
    } finally {
      await stack.stop();
    }
  });

  it('logs one JSON line per state change with call id and node, never a token; warns about Redis settings', async () => {
    const env = testEnv({ LOG_LEVEL: 'info' });
    const node = await spawnNode('all', env, await freePort());
    const redis = new Redis(env.REDIS_URL!);
    try {
      const d = await connect(node.url, 'ld', 'driver');
      const r = await connect(node.url, 'lr', 'passenger');
      await d.emit('driver:online', placeAt(2));
      const res = await r.emit<Call>('call:request', { requestId: 'l', pickup: placeAt(2), dropoff: DROPOFF });
      if (!res.ok) throw new Error('request failed');
      await d.next('offer');
      await d.emit('offer:accept', { callId: res.data.id });
      await rest(node.url, 'GET', `/api/calls/${res.data.id}`, { id: 'lr', role: 'passenger' });
      const lines = () => node.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
      await until(() => lines().some((l) => l.callId === res.data.id && l.status === 'dispatched'), 'the dispatched line');
      const changes = lines().filter((l) => l.callId === res.data.id && typeof l.status === 'string');
      expect(changes.map((l) => l.status)).to.include.members(['requested', 'offered', 'dispatched']);
      for (const l of changes) expect(l.node).to.be.a('string').and.match(/:\d+$/);
      const riderToken = await token('lr', 'passenger');
      expect(node.output()).to.not.contain(riderToken.split('.')[2]);
      expect(node.output()).to.not.contain(env.JWT_SECRET);
      // The shared test Redis runs without AOF: the app says what BullMQ's production guide asks for.
      expect(node.output()).to.contain('redis settings: appendonly');
      d.close();
      r.close();
    } finally {
      await node.kill9();
      await cleanPrefix(redis, env.KEY_PREFIX!);
      redis.disconnect();
    }
  });

  it('a stop waits for requests in flight (bounded)', async () => {
    const inflight = new InFlight();
    let finish: () => void = () => undefined;
    const work = inflight.track(() => new Promise<string>((r) => (finish = () => r('answered'))));
    let idle = false;
    const drained = inflight.idle(30000).then(() => (idle = true));
    await Promise.resolve();
    expect(idle).to.equal(false);
    finish();
    expect(await work).to.equal('answered');
    await drained;
    expect(idle).to.equal(true);
    // With work that never ends, the bound wins.
    void inflight.track(() => new Promise(() => undefined));
    await inflight.idle(50);
  });

  it('on stop, /readyz turns 503 at once, clients are told to reconnect (transport close, not a server kick), and the process ends', async () => {
    const stack = await startStack({ gateways: 1, dispatchers: 0 });
    const gw = stack.gateways[0]!;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<number>((resolve, reject) => {
        request(`${gw.url}${path}`, { agent }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject).end();
      });
    try {
      await until(async () => (await get('/readyz')) === 200, 'the gateway to be ready'); // also opens the keep-alive connection
      const c = await connect(gw.url, 'sd', 'driver', { reconnection: true });
      const reason = new Promise<string>((r) => c.socket.once('disconnect', r));
      const stopping = gw.stop();
      const during = await get('/readyz').catch(() => 'closed');
      expect([503, 'closed']).to.include(during);
      await stopping;
      expect(await reason).to.equal('transport close');
      c.close();
    } finally {
      agent.destroy();
      stack.gateways.length = 0;
      await stack.stop();
    }
  });
});
