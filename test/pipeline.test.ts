/**
 * The action pipeline (server/gateway/pipeline.ts) on its own, with the services, the limiter and
 * the breakers stubbed: the order of its steps (validation before anything else, the rate limit
 * inside the breaker, in-flight tracking around both), the lane of position reports, and the
 * outcome of every kind of failure.
 */
import { expect } from 'chai';
import { actionNamed, type ActionName, type User } from '../protocol/index.js';
import { AppError } from '../server/errors.js';
import { bindActions, type Services } from '../server/gateway/actions.js';
import { createBreaker, type Breaker, type Circuit } from '../server/gateway/breaker.js';
import type { LimitKind } from '../server/gateway/limits.js';
import { createPipeline, PATH_ID_MESSAGE, type PipelineDeps } from '../server/gateway/pipeline.js';
import { InFlight } from '../server/inflight.js';
import { createLogger } from '../server/log.js';
import { Metrics } from '../server/metrics.js';

const never = () => new Promise<never>(() => undefined);
const rider: User = { id: 'p1', role: 'passenger' };
const driver: User = { id: 'd1', role: 'driver' };
const CALL = {
  id: 'c1', passengerId: 'p1', status: 'requested', pickup: { lat: 1, lng: 2 }, dropoff: { lat: 3, lng: 4 },
  driverId: null, seq: 1, createdAt: '2025-06-01T08:30:00.000Z', updatedAt: '2025-06-01T08:30:00.000Z',
} as const;

/** What the stubs saw, in order. */
type Step = `limit:${LimitKind}` | `breaker:${Circuit}` | `service:${string}`;

function harness(o: { limit?: (kind: LimitKind) => Promise<void>; service?: (name: string, args: unknown[]) => Promise<unknown>; breakers?: Record<Circuit, Breaker> } = {}) {
  const steps: Step[] = [];
  const metrics = new Metrics();
  const service = (name: string) => (...args: unknown[]) => {
    steps.push(`service:${name}`);
    return o.service ? o.service(name, args) : Promise.resolve(name === 'request' ? { call: CALL, created: true } : name === 'location' ? {} : CALL);
  };
  const services = {
    calls: { request: service('request'), cancel: service('cancel'), get: service('get'), active: service('active'), list: service('list') },
    drivers: {
      online: service('online'), offline: service('offline'), location: service('location'), accept: service('accept'), reject: service('reject'),
      step: service('step'), backOut: service('backOut'),
    },
  } as unknown as Services;
  const spy = (circuit: Circuit): Breaker => <T>(work: () => Promise<T>) => {
    steps.push(`breaker:${circuit}`);
    return o.breakers ? o.breakers[circuit](work) : work();
  };
  const inflight = new InFlight();
  const deps: PipelineDeps = {
    bindings: bindActions(services),
    limits: {
      take: (kind: LimitKind) => {
        steps.push(`limit:${kind}`);
        return o.limit ? o.limit(kind) : Promise.resolve();
      },
    },
    breakers: { requests: spy('requests'), locations: spy('locations') },
    inflight,
    metrics,
    log: createLogger('silent', 'test'),
  };
  return { steps, metrics, inflight, run: createPipeline(deps) };
}

const limitedCount = async (metrics: Metrics, kind: string) =>
  Number(/ (\d+)$/m.exec((await metrics.registry.getSingleMetricAsString('dispatch_rate_limited_total')).split('\n').find((l) => l.includes(`kind="${kind}"`)) ?? ' 0')?.[1]);

describe('the action pipeline', () => {
  it('a payload its schema refuses is answered VALIDATION_FAILED before the breaker, the rate limit or the service', async () => {
    const h = harness();
    const outcome = await h.run(driver, actionNamed('driver.online'), { lat: 91, lng: 0 }, 'socket');
    expect(outcome).to.deep.equal({ ok: false, error: { code: 'VALIDATION_FAILED', message: 'lat: Too big: expected number to be <=90' } });
    // The same refusal over REST has the same message.
    expect(await h.run(driver, actionNamed('driver.online'), { lat: 91, lng: 0 }, 'rest')).to.deep.equal(outcome);
    expect(h.steps).to.deep.equal([]);
  });

  it('a bad call id is named callId over the socket and as the path id over REST; a missing payload is {}', async () => {
    const h = harness();
    const accept = actionNamed('offer.accept');
    expect(await h.run(driver, accept, { callId: 'a'.repeat(65) }, 'socket')).to.have.nested.property('error.message').that.matches(/^callId: /);
    expect(await h.run(driver, accept, { callId: 'a'.repeat(65) }, 'rest')).to.deep.equal({ ok: false, error: { code: 'VALIDATION_FAILED', message: PATH_ID_MESSAGE } });
    // A body problem on a route with a path id keeps its own field name.
    expect(await h.run(driver, actionNamed('trip.cancel'), { callId: 'c1', reason: 5 }, 'rest')).to.have.nested.property('error.message').that.matches(/^reason: /);
    expect(await h.run(driver, accept, undefined, 'socket')).to.have.nested.property('error.message').that.matches(/^callId: /);
    expect(await h.run(driver, actionNamed('driver.offline'), null, 'socket')).to.deep.equal({ ok: true, data: CALL, repeated: false });
    expect(h.steps).to.deep.equal(['breaker:requests', 'limit:event', 'service:offline']);
  });

  it('every action runs the breaker, then the rate limit, then its service; position reports in their own lane on both transports', async () => {
    const names: ActionName[] = ['call.get', 'driver.location', 'offer.reject'];
    for (const transport of ['socket', 'rest'] as const) {
      const h = harness();
      for (const name of names) {
        const payload = name === 'driver.location' ? { lat: 1, lng: 2 } : { callId: 'c1' };
        expect(await h.run(name === 'call.get' ? rider : driver, actionNamed(name), payload, transport)).to.have.property('ok', true);
      }
      expect(h.steps, transport).to.deep.equal([
        'breaker:requests', 'limit:event', 'service:get',
        'breaker:locations', 'limit:location', 'service:location',
        'breaker:requests', 'limit:event', 'service:reject',
      ]);
    }
  });

  it('a repeated request is a success marked repeated (REST answers its second status); the data is the call', async () => {
    let created = true;
    const h = harness({ service: (name) => Promise.resolve(name === 'request' ? { call: CALL, created } : CALL) });
    const payload = { requestId: 'r', pickup: { lat: 1, lng: 2 }, dropoff: { lat: 3, lng: 4 } };
    expect(await h.run(rider, actionNamed('call.request'), payload, 'rest')).to.deep.equal({ ok: true, data: CALL, repeated: false });
    created = false;
    expect(await h.run(rider, actionNamed('call.request'), payload, 'rest')).to.deep.equal({ ok: true, data: CALL, repeated: true });
    expect(await h.run(rider, actionNamed('call.list'), { limit: '2' }, 'rest')).to.deep.equal({ ok: true, data: { items: CALL }, repeated: false });
  });

  it('a rate-limited request is answered RATE_LIMITED and counted by kind: event, location, or rest', async () => {
    const h = harness({ limit: () => Promise.reject(new AppError('RATE_LIMITED', 'too many requests; retry in 1 s')) });
    const limited = { ok: false, error: { code: 'RATE_LIMITED', message: 'too many requests; retry in 1 s' } };
    expect(await h.run(rider, actionNamed('call.active'), {}, 'socket')).to.deep.equal(limited);
    expect(await h.run(driver, actionNamed('driver.location'), { lat: 1, lng: 2 }, 'socket')).to.deep.equal(limited);
    expect(await h.run(driver, actionNamed('driver.location'), { lat: 1, lng: 2 }, 'rest')).to.deep.equal(limited);
    expect(await h.run(rider, actionNamed('call.active'), {}, 'rest')).to.deep.equal(limited);
    expect(h.steps.filter((s) => s.startsWith('service:'))).to.deep.equal([]);
    expect([await limitedCount(h.metrics, 'event'), await limitedCount(h.metrics, 'location'), await limitedCount(h.metrics, 'rest')]).to.deep.equal([1, 1, 2]);
  });

  it('business answers pass through; anything unexpected is INTERNAL with no detail', async () => {
    const h = harness({ service: (name) => Promise.reject(name === 'accept' ? new AppError('ALREADY_DISPATCHED') : new Error('boom at /some/file.ts:12')) });
    expect(await h.run(driver, actionNamed('offer.accept'), { callId: 'c1' }, 'socket')).to.have.nested.property('error.code', 'ALREADY_DISPATCHED');
    expect(await h.run(driver, actionNamed('offer.reject'), { callId: 'c1' }, 'rest')).to.deep.equal({ ok: false, error: { code: 'INTERNAL', message: 'internal error' } });
  });

  it('with the real breakers, a hung Redis under the rate limit or under the action is answered UNAVAILABLE (REDIS_TIMEOUT_MS)', async () => {
    const metrics = new Metrics();
    const log = createLogger('silent', 'test');
    const requests = createBreaker(50, metrics, log, 'requests');
    const locations = createBreaker(50, metrics, log, 'locations');
    try {
      const breakers = { requests: requests.breaker, locations: locations.breaker };
      const hungLimiter = harness({ breakers, limit: never });
      expect(await hungLimiter.run(rider, actionNamed('call.active'), {}, 'socket')).to.deep.equal({ ok: false, error: { code: 'UNAVAILABLE', message: 'a dependency is unavailable, try again' } });
      expect(await hungLimiter.run(driver, actionNamed('driver.location'), { lat: 1, lng: 2 }, 'rest')).to.have.nested.property('error.code', 'UNAVAILABLE');
      expect(hungLimiter.steps.filter((s) => s.startsWith('service:'))).to.deep.equal([]);
      const hungService = harness({ breakers, service: never });
      expect(await hungService.run(driver, actionNamed('trip.start'), { callId: 'c1' }, 'rest')).to.have.nested.property('error.code', 'UNAVAILABLE');
    } finally {
      requests.shutdown();
      locations.shutdown();
    }
  });

  it('an action is in flight from the breaker until its answer: a graceful stop waits for it', async () => {
    let finish: (v: unknown) => void = () => undefined;
    const h = harness({ service: () => new Promise((resolve) => (finish = resolve)) });
    const outcome = h.run(rider, actionNamed('call.get'), { callId: 'c1' }, 'socket');
    let idle = false;
    const drained = h.inflight.idle(60000).then(() => (idle = true));
    // Let every step before the service run (promise jobs only, no timer).
    for (let i = 0; i < 10 && !h.steps.includes('service:get'); i++) await Promise.resolve();
    expect(h.steps).to.deep.equal(['breaker:requests', 'limit:event', 'service:get']);
    expect(idle).to.equal(false);
    finish(CALL);
    expect(await outcome).to.deep.equal({ ok: true, data: CALL, repeated: false });
    await drained;
    expect(idle).to.equal(true);
  });
});
