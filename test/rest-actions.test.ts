/**
 * Every action over REST: a whole ride with REST requests only, on two gateways and a dispatcher
 * (the sockets only listen for pushes), a reject, a back-out, the driver's own routes; the same
 * action answering the same through both transports; and the table's routes carrying exactly
 * their payloads.
 */
import { expect } from 'chai';
import { z } from 'zod';
import {
  ACTIONS, actionNamed, Call, DriverLocationPush, HTTP_STATUS, pathIdField, restPayload, routeHasId,
  type ActionName, type ErrorCode, type Offer, type Response, type UserRole,
} from '../protocol/index.js';
import { PATH_ID_MESSAGE } from '../server/gateway/pipeline.js';
import { connect, DROPOFF, PICKUP, placeAt, rest, restError, type TestClient } from './support/clients.js';
import { startStack, type Stack } from './support/stack.js';

type RestResult = Awaited<ReturnType<typeof rest>>;
const as = (id: string, role: UserRole) => ({ id, role });
const near = (i: number) => ({ lat: PICKUP.lat + 0.001 * i, lng: PICKUP.lng });

/** The body of a REST answer with this status. */
function bodyOf(res: RestResult, status = 200): unknown {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  return res.body;
}
const callOf = (res: RestResult, status = 200): Call => Call.parse(bodyOf(res, status));


describe('every action over REST', () => {
  let stack: Stack;
  const clients: TestClient[] = [];
  const gw = (node: number) => stack.gateways[node]!.url;
  /** A socket that only listens for pushes: every request of these tests goes over REST. */
  const listener = async (node: number, id: string, role: UserRole) => {
    const c = await connect(gw(node), id, role);
    clients.push(c);
    return c;
  };
  const call = (node: number, method: string, path: string, who: { id: string; role: UserRole }, body?: unknown) => rest(gw(node), method, path, who, body);
  const goOnline = async (node: number, id: string, at: { lat: number; lng: number }) => {
    expect(bodyOf(await call(node, 'POST', '/api/driver/online', as(id, 'driver'), at))).to.deep.equal({ status: 'available' });
  };

  beforeEach(async () => {
    // One driver per wave: a reject or a back-out visibly moves the call on to the next nearest driver.
    stack = await startStack({ gateways: 2, dispatchers: 1, env: { OFFER_TIMEOUT_MS: 60000, OFFER_WAVE_SIZE: 1 } });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await stack.stop();
  });

  it('a whole ride over REST only: online, request, the offer (pushed, and read), accept, location, arrived, start, complete, offline', async () => {
    const rider = as('rr-rider', 'passenger');
    const driver = as('rr-driver', 'driver');
    const riderPushes = await listener(1, rider.id, rider.role);
    const driverPushes = await listener(0, driver.id, driver.role);

    await goOnline(0, driver.id, near(1));
    const created = callOf(await call(1, 'POST', '/api/calls', rider, { requestId: 'rest-ride', pickup: PICKUP, dropoff: DROPOFF }), 201);
    expect(created).to.include({ passengerId: rider.id, status: 'requested', driverId: null });

    // The offer is pushed to the driver's socket; the driver may also read the call it was offered.
    const offer = await driverPushes.next<Offer>('offer', (o) => o.callId === created.id);
    expect(offer).to.deep.include({ pickup: PICKUP, dropoff: DROPOFF });
    const offered = callOf(await call(1, 'GET', `/api/calls/${created.id}`, driver));
    expect(offered).to.include({ id: created.id, status: 'offered' });
    expect(bodyOf(await call(0, 'GET', '/api/calls/active', rider))).to.deep.equal([offered]);

    const won = callOf(await call(1, 'POST', `/api/calls/${created.id}/accept`, driver));
    expect(won).to.include({ id: created.id, status: 'dispatched', driverId: driver.id });
    expect(await driverPushes.next<Call>('trip:status', (c) => c.id === created.id && c.status === 'dispatched')).to.deep.equal(won);
    expect(await riderPushes.next<Call>('call:status', (c) => c.id === created.id && c.status === 'dispatched')).to.deep.equal(won);

    // A position report during the trip reaches the rider.
    const at = { lat: PICKUP.lat + 0.0005, lng: PICKUP.lng };
    expect(bodyOf(await call(0, 'POST', '/api/driver/location', driver, at))).to.deep.equal({});
    const seen = DriverLocationPush.parse(await riderPushes.next('driver:location', (l: { callId: string }) => l.callId === created.id));
    expect(seen).to.include({ callId: created.id, lat: at.lat, lng: at.lng });

    let last = won;
    for (const [step, status] of [['arrived', 'arrived'], ['start', 'in_progress'], ['complete', 'completed']] as const) {
      const moved = callOf(await call(last.seq % 2, 'POST', `/api/calls/${created.id}/${step}`, driver));
      expect(moved).to.include({ id: created.id, status, driverId: driver.id });
      expect(moved.seq).to.be.greaterThan(last.seq);
      expect(await riderPushes.next<Call>('call:status', (c) => c.id === created.id && c.status === status)).to.deep.equal(moved);
      expect(await driverPushes.next<Call>('trip:status', (c) => c.id === created.id && c.status === status)).to.deep.equal(moved);
      last = moved;
    }
    // A repeated step is refused; the ride is over, so the rider has no open call.
    restError(await call(0, 'POST', `/api/calls/${created.id}/complete`, driver), 409, 'INVALID_STATE');
    expect(bodyOf(await call(1, 'GET', '/api/calls/active', rider))).to.deep.equal([]);
    expect(callOf(await call(0, 'GET', `/api/calls/${created.id}`, driver))).to.deep.equal(last);

    // Completing freed the driver, so it can go offline.
    expect(bodyOf(await call(1, 'POST', '/api/driver/offline', driver))).to.deep.equal({ status: 'offline' });
  });

  it('a reject over REST: the next wave goes to the next driver at once; a second reject is OFFER_EXPIRED; a driver never offered gets NOT_OFFERED', async () => {
    const rider = as('rj-rider', 'passenger');
    const [first, second] = [as('rj-first', 'driver'), as('rj-second', 'driver')];
    const firstPushes = await listener(0, first.id, 'driver');
    const secondPushes = await listener(1, second.id, 'driver');
    await goOnline(0, first.id, near(1));
    await goOnline(1, second.id, near(2));
    const created = callOf(await call(0, 'POST', '/api/calls', rider, { requestId: 'rest-reject', pickup: PICKUP, dropoff: DROPOFF }), 201);

    await firstPushes.next<Offer>('offer', (o) => o.callId === created.id);
    restError(await call(1, 'POST', `/api/calls/${created.id}/reject`, second), 409, 'NOT_OFFERED');
    expect(bodyOf(await call(1, 'POST', `/api/calls/${created.id}/reject`, first))).to.deep.equal({});
    // The wave's only offer was turned down: the next driver gets the call.
    await secondPushes.next<Offer>('offer', (o) => o.callId === created.id);
    restError(await call(0, 'POST', `/api/calls/${created.id}/reject`, first), 409, 'OFFER_EXPIRED');
    restError(await call(0, 'POST', `/api/calls/${created.id}/accept`, first), 409, 'OFFER_EXPIRED');
    restError(await call(1, 'POST', '/api/calls/no-such-call/reject', first), 404, 'NOT_FOUND');

    const won = callOf(await call(0, 'POST', `/api/calls/${created.id}/accept`, second));
    expect(won).to.include({ status: 'dispatched', driverId: second.id });
  });

  it('a back-out over REST: the call is offered again, to another driver; the driver who backed out is told and free', async () => {
    const rider = as('bo-rider', 'passenger');
    const [first, second] = [as('bo-first', 'driver'), as('bo-second', 'driver')];
    const riderPushes = await listener(0, rider.id, 'passenger');
    const firstPushes = await listener(1, first.id, 'driver');
    const secondPushes = await listener(0, second.id, 'driver');
    await goOnline(1, first.id, near(1));
    await goOnline(0, second.id, near(2));
    const created = callOf(await call(0, 'POST', '/api/calls', rider, { requestId: 'rest-back-out', pickup: PICKUP, dropoff: DROPOFF }), 201);
    await firstPushes.next<Offer>('offer', (o) => o.callId === created.id);
    callOf(await call(1, 'POST', `/api/calls/${created.id}/accept`, first));
    callOf(await call(0, 'POST', `/api/calls/${created.id}/arrived`, first));

    // On a trip the driver cannot go online or offline; nobody else may move or leave the trip.
    restError(await call(0, 'POST', '/api/driver/online', first, near(1)), 409, 'DRIVER_BUSY');
    restError(await call(1, 'POST', '/api/driver/offline', first), 409, 'DRIVER_BUSY');
    restError(await call(0, 'POST', `/api/calls/${created.id}/start`, second), 403, 'FORBIDDEN');
    restError(await call(1, 'POST', `/api/calls/${created.id}/back-out`, second, {}), 403, 'FORBIDDEN');
    restError(await call(0, 'POST', `/api/calls/${created.id}/back-out`, first, { reason: 'x'.repeat(201) }), 400, 'VALIDATION_FAILED');

    const back = callOf(await call(0, 'POST', `/api/calls/${created.id}/back-out`, first, { reason: 'flat tyre' }));
    expect(back).to.include({ id: created.id, status: 'offered', driverId: null });
    expect(await firstPushes.next<Call>('trip:status', (c) => c.id === created.id && c.status === 'offered')).to.include({ driverId: null });
    expect(await riderPushes.next<Call>('call:status', (c) => c.id === created.id && c.seq === back.seq)).to.deep.equal(back);
    await secondPushes.next<Offer>('offer', (o) => o.callId === created.id);
    expect(callOf(await call(1, 'POST', `/api/calls/${created.id}/accept`, second))).to.include({ status: 'dispatched', driverId: second.id });
    // Backing out freed the first driver.
    expect(bodyOf(await call(1, 'POST', '/api/driver/offline', first))).to.deep.equal({ status: 'offline' });
  });

  it('roles and ids over the new routes: FORBIDDEN for other roles, NOT_FOUND for a missing call, the path id message for a bad one', async () => {
    for (const [method, path, who] of [
      ['POST', '/api/driver/online', as('ro-rider', 'passenger')],
      ['POST', '/api/driver/location', as('ro-admin', 'admin')],
      ['POST', '/api/driver/offline', as('ro-rider', 'passenger')],
      ['GET', '/api/calls/active', as('ro-driver', 'driver')],
      ['GET', '/api/calls/active', as('ro-admin', 'admin')],
      ['POST', '/api/calls/no-such-call/arrived', as('ro-rider', 'passenger')],
      ['POST', '/api/calls/no-such-call/reject', as('ro-admin', 'admin')],
    ] as const) {
      restError(await call(0, method, path, who, method === 'POST' ? PICKUP : undefined), 403, 'FORBIDDEN');
    }
    for (const step of ['arrived', 'start', 'complete', 'back-out', 'reject']) {
      restError(await call(1, 'POST', `/api/calls/no-such-call/${step}`, as('ro-driver', 'driver')), 404, 'NOT_FOUND');
      expect(restError(await call(0, 'POST', `/api/calls/bad$id/${step}`, as('ro-driver', 'driver')), 400, 'VALIDATION_FAILED')).to.equal(PATH_ID_MESSAGE);
    }
    // A route without a body ignores one; an unknown method on a new route is no route.
    expect(bodyOf(await call(1, 'POST', '/api/driver/offline', as('ro-driver', 'driver'), { status: 'available', junk: [1] }))).to.deep.equal({ status: 'offline' });
    restError(await call(0, 'GET', '/api/driver/online', as('ro-driver', 'driver')), 404, 'NOT_FOUND');
  });
});

describe('the same action answers the same over both transports', () => {
  let stack: Stack;
  const sockets = {} as Record<'rider' | 'driver' | 'admin', TestClient>;
  const users = { rider: as('same-rider', 'passenger'), driver: as('same-driver', 'driver'), admin: as('same-admin', 'admin') };
  /** A call of the rider, far from the driver, so that it is never offered to it. */
  let own: Call;

  before(async () => {
    stack = await startStack({ gateways: 2, dispatchers: 1, env: { RATE_LIMIT_PER_S: 0 } });
    for (const [key, u] of Object.entries(users) as [keyof typeof users, { id: string; role: UserRole }][]) {
      sockets[key] = await connect(stack.gateways[key === 'driver' ? 1 : 0]!.url, u.id, u.role);
    }
    const res = await sockets.rider.emit<Call>('call:request', { requestId: 'same', pickup: placeAt(3), dropoff: DROPOFF });
    if (!res.ok) throw new Error(JSON.stringify(res.error));
    own = res.data;
  });
  after(async () => {
    for (const c of Object.values(sockets)) c.close();
    await stack.stop();
  });

  interface Case {
    name: string;
    who: keyof typeof users;
    action: ActionName;
    payload: () => unknown;
    /** What both transports must answer: an error code, or 'ok'. */
    expect: ErrorCode | 'ok';
  }
  const long = (n: number) => 'x'.repeat(n);
  const CASES: Case[] = [
    // Payloads refused by the schema: the same message, field and problem.
    { name: 'a pickup.lat of 91', who: 'rider', action: 'call.request', payload: () => ({ requestId: 'r', pickup: { lat: 91, lng: 0 }, dropoff: DROPOFF }), expect: 'VALIDATION_FAILED' },
    { name: 'no requestId and a string dropoff', who: 'rider', action: 'call.request', payload: () => ({ pickup: PICKUP, dropoff: 'home' }), expect: 'VALIDATION_FAILED' },
    { name: 'an array payload', who: 'rider', action: 'call.request', payload: () => [1, 2], expect: 'VALIDATION_FAILED' },
    { name: 'a cancel reason of 201 chars', who: 'rider', action: 'call.cancel', payload: () => ({ callId: own.id, reason: long(201) }), expect: 'VALIDATION_FAILED' },
    { name: 'an online lat of 91', who: 'driver', action: 'driver.online', payload: () => ({ lat: 91, lng: 0 }), expect: 'VALIDATION_FAILED' },
    { name: 'an online without lng', who: 'driver', action: 'driver.online', payload: () => ({ lat: 37 }), expect: 'VALIDATION_FAILED' },
    { name: 'a location with string numbers', who: 'driver', action: 'driver.location', payload: () => ({ lat: '37.5', lng: '127' }), expect: 'VALIDATION_FAILED' },
    { name: 'a numeric back-out reason', who: 'driver', action: 'trip.cancel', payload: () => ({ callId: own.id, reason: 5 }), expect: 'VALIDATION_FAILED' },
    // Roles.
    { name: 'a rider going online', who: 'rider', action: 'driver.online', payload: () => PICKUP, expect: 'FORBIDDEN' },
    { name: 'an admin going offline', who: 'admin', action: 'driver.offline', payload: () => ({}), expect: 'FORBIDDEN' },
    { name: 'a driver requesting a call', who: 'driver', action: 'call.request', payload: () => ({ requestId: 'd', pickup: PICKUP, dropoff: DROPOFF }), expect: 'FORBIDDEN' },
    { name: 'a driver asking for active calls', who: 'driver', action: 'call.active', payload: () => ({}), expect: 'FORBIDDEN' },
    { name: 'a driver cancelling a call', who: 'driver', action: 'call.cancel', payload: () => ({ callId: own.id }), expect: 'FORBIDDEN' },
    { name: 'a driver reading a call never offered to it', who: 'driver', action: 'call.get', payload: () => ({ callId: own.id }), expect: 'FORBIDDEN' },
    { name: 'a rider accepting its own call', who: 'rider', action: 'offer.accept', payload: () => ({ callId: own.id }), expect: 'FORBIDDEN' },
    { name: 'an admin starting a trip', who: 'admin', action: 'trip.start', payload: () => ({ callId: own.id }), expect: 'FORBIDDEN' },
    // The services' own answers.
    { name: 'a second open call', who: 'rider', action: 'call.request', payload: () => ({ requestId: 'second', pickup: placeAt(3), dropoff: DROPOFF }), expect: 'INVALID_STATE' },
    { name: 'a missing call', who: 'admin', action: 'call.get', payload: () => ({ callId: 'no-such-call' }), expect: 'NOT_FOUND' },
    { name: 'a cancel of a missing call', who: 'admin', action: 'call.cancel', payload: () => ({ callId: 'no-such-call' }), expect: 'NOT_FOUND' },
    { name: 'an accept of a call never offered', who: 'driver', action: 'offer.accept', payload: () => ({ callId: own.id }), expect: 'NOT_OFFERED' },
    { name: 'a reject of a call never offered', who: 'driver', action: 'offer.reject', payload: () => ({ callId: own.id }), expect: 'NOT_OFFERED' },
    { name: 'arrived at another driver\'s call', who: 'driver', action: 'trip.arrived', payload: () => ({ callId: own.id }), expect: 'FORBIDDEN' },
    { name: 'completing a missing trip', who: 'driver', action: 'trip.complete', payload: () => ({ callId: 'no-such-call' }), expect: 'NOT_FOUND' },
    { name: 'backing out of a missing trip', who: 'driver', action: 'trip.cancel', payload: () => ({ callId: 'no-such-call', reason: 'x' }), expect: 'NOT_FOUND' },
    // Successes that change nothing the next answer depends on: the same data.
    { name: 'the rider\'s open calls', who: 'rider', action: 'call.active', payload: () => ({}), expect: 'ok' },
    { name: 'the rider reading its call', who: 'rider', action: 'call.get', payload: () => ({ callId: own.id }), expect: 'ok' },
    { name: 'going online far away', who: 'driver', action: 'driver.online', payload: () => placeAt(8), expect: 'ok' },
    // The operator levers (1.4.0).
    { name: 'a rider redispatching a call', who: 'rider', action: 'call.redispatch', payload: () => ({ callId: own.id }), expect: 'FORBIDDEN' },
    { name: 'a redispatch of a call not dispatched', who: 'admin', action: 'call.redispatch', payload: () => ({ callId: own.id, reason: 'x' }), expect: 'INVALID_STATE' },
    { name: 'a redispatch of a missing call', who: 'admin', action: 'call.redispatch', payload: () => ({ callId: 'no-such-call' }), expect: 'NOT_FOUND' },
    { name: 'a driver suspending another', who: 'driver', action: 'driver.suspend', payload: () => ({ driverId: 'someone', reason: 'x' }), expect: 'FORBIDDEN' },
    { name: 'a suspension of 999 ms', who: 'admin', action: 'driver.suspend', payload: () => ({ driverId: 'someone', reason: 'x', durationMs: 999 }), expect: 'VALIDATION_FAILED' },
    { name: 'a suspension without a reason', who: 'admin', action: 'driver.suspend', payload: () => ({ driverId: 'someone' }), expect: 'VALIDATION_FAILED' },
    { name: 'a rider lifting a suspension', who: 'rider', action: 'driver.lift', payload: () => ({ driverId: 'someone' }), expect: 'FORBIDDEN' },
    { name: 'a lift of a driver never suspended', who: 'admin', action: 'driver.lift', payload: () => ({ driverId: 'never-suspended', reason: 'x' }), expect: 'ok' },
    { name: 'a position report', who: 'driver', action: 'driver.location', payload: () => placeAt(8), expect: 'ok' },
    // The operator feed (1.5.0): a join answers a snapshot of its moment (never the same twice), so only refusals and the leave.
    { name: 'a rider joining the operator feed', who: 'rider', action: 'ops.join', payload: () => ({}), expect: 'FORBIDDEN' },
    { name: 'a driver leaving the operator feed', who: 'driver', action: 'ops.leave', payload: () => ({}), expect: 'FORBIDDEN' },
    { name: 'an admin leaving the operator feed', who: 'admin', action: 'ops.leave', payload: () => ({}), expect: 'ok' },
  ];

  /** The REST request of an action's socket payload: the callId into the path, the rest as the body. */
  function restRequest(name: ActionName, payload: unknown): { method: string; path: string; body?: unknown } {
    const { route } = actionNamed(name);
    const fields = typeof payload === 'object' && payload !== null && !Array.isArray(payload) ? { ...(payload as Record<string, unknown>) } : undefined;
    let path = route.path;
    if (routeHasId(route)) {
      const idField = pathIdField(route);
      path = path.replace(':id', encodeURIComponent(String(fields?.[idField])));
      if (fields) delete fields[idField];
    }
    return { method: route.method.toUpperCase(), path, body: route.body ? (fields ?? payload) : undefined };
  }

  it('the cases cover every action that has an event', () => {
    const covered = new Set(CASES.map((c) => c.action));
    expect([...covered].sort()).to.deep.equal(ACTIONS.flatMap((a) => (a.event ? [a.name] : [])).sort());
  });

  for (const c of CASES) {
    it(`${c.action}: ${c.name} → ${c.expect}, the same code and message (or data) over the socket and REST`, async () => {
      const action = actionNamed(c.action);
      const payload = c.payload();
      const viaSocket = await sockets[c.who].emit(action.event!, payload);
      const req = restRequest(c.action, payload);
      const viaRest = await rest(stack.gateways[1]!.url, req.method, req.path, users[c.who], req.body);
      if (c.expect === 'ok') {
        expect(viaSocket).to.deep.equal({ ok: true, data: viaRest.body });
        expect(viaRest.status).to.equal(action.route.status);
        return;
      }
      expect(viaSocket, JSON.stringify(viaSocket)).to.have.nested.property('error.code', c.expect);
      const error = (viaSocket as Extract<Response<unknown>, { ok: false }>).error;
      expect(viaRest.status).to.equal(HTTP_STATUS[c.expect]);
      expect(viaRest.body).to.deep.equal({ error });
    });
  }

  it('a malformed call id: VALIDATION_FAILED on both; the socket names the field callId, REST the path id', async () => {
    for (const name of ['call.get', 'call.cancel', 'offer.accept', 'offer.reject', 'trip.arrived', 'trip.start', 'trip.complete', 'trip.cancel'] as const) {
      const action = actionNamed(name);
      const who = action.roles.includes('driver') ? 'driver' : 'rider';
      const viaSocket = await sockets[who].emit(action.event, { callId: 'a b' });
      expect(viaSocket).to.deep.equal({ ok: false, error: { code: 'VALIDATION_FAILED', message: 'callId: must be 1-64 chars of A-Z a-z 0-9 _ -' } });
      const req = restRequest(name, { callId: 'a b' });
      const viaRest = await rest(stack.gateways[0]!.url, req.method, req.path, users[who], req.body);
      expect(viaRest).to.deep.equal({ status: 400, body: { error: { code: 'VALIDATION_FAILED', message: PATH_ID_MESSAGE } } });
    }
  });
});

describe('the action table\'s routes', () => {
  const fields = (schema: z.ZodType | undefined): string[] => (schema ? Object.keys((schema as z.ZodObject).shape).sort() : []);

  it('every action has one route under /api, and the path id, the body and the query carry exactly its payload\'s fields', () => {
    const routes = ACTIONS.map((a) => `${a.route.method} ${a.route.path}`);
    expect(routes, 'no route twice').to.have.length(new Set(routes).size);
    for (const a of ACTIONS) {
      expect(a.route.path, a.name).to.match(/^\/api\//);
      expect(a.payload, a.name).to.be.instanceOf(z.ZodObject);
      const carried = [...(routeHasId(a.route) ? [pathIdField(a.route)] : []), ...fields(a.route.body), ...fields(a.route.query)];
      expect(carried, `what ${a.route.method.toUpperCase()} ${a.route.path} carries`).to.have.length(new Set(carried).size);
      expect(carried.sort(), `the payload of ${a.name}`).to.deep.equal(fields(a.payload));
    }
  });

  it('restPayload: the path id wins over a body\'s callId, a route without a body ignores one, an array body is refused as a socket array is, own __proto__ keys stay keys', () => {
    const cancel = actionNamed('call.cancel').route;
    expect(restPayload(cancel, { id: 'c1', body: { callId: 'other', reason: 'late' } })).to.deep.equal({ callId: 'c1', reason: 'late' });
    expect(restPayload(cancel, { id: 'c1' })).to.deep.equal({ callId: 'c1' });
    expect(restPayload(actionNamed('offer.accept').route, { id: 'c1', body: { callId: 'other', junk: 1 } })).to.deep.equal({ callId: 'c1' });
    expect(restPayload(actionNamed('driver.offline').route, { body: [1] })).to.deep.equal({});
    expect(restPayload(actionNamed('driver.online').route, { body: [1] })).to.deep.equal([1]);
    expect(restPayload(actionNamed('call.list').route, { query: { limit: '5' }, body: { limit: 7 } })).to.deep.equal({ limit: '5' });
    const hostile = JSON.parse('{"lat":1,"lng":2,"__proto__":{"polluted":true}}') as unknown;
    const payload = restPayload(actionNamed('driver.location').route, { body: hostile }) as Record<string, unknown>;
    expect(Object.getPrototypeOf(payload)).to.equal(Object.prototype);
    expect(Object.hasOwn(payload, '__proto__')).to.equal(true);
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
  });
});
