/**
 * Bad input, table-driven: every row is one bad handshake, socket event or HTTP request with the
 * exact contract code it must get. Then the stack must still dispatch a normal ride.
 */
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import { SignJWT } from 'jose';
import { io } from 'socket.io-client';
import type { Call, ErrorCode, Offer, Response, UserRole } from '../protocol/index.js';
import { signToken } from '../clients/cli/token.js';
import { connect, DROPOFF, PICKUP, placeAt, token, type TestClient } from './support/clients.js';
import { SECRET, testConfig } from './support/env.js';
import { startStack, type Stack } from './support/stack.js';

type Role = 'passenger' | 'driver' | 'admin';

/** What an error message or REST body must never contain: stack frames, source paths. */
const LEAK = /\n\s*at |\bat [\w.<>]+ \(|\/work\/|node_modules|[\w-]+\.(ts|js|mjs):\d+/;

const long = (n: number, ch = 'x') => ch.repeat(n);
const place = (over: Record<string, unknown> = {}) => ({ ...PICKUP, ...over });
const request = (over: Record<string, unknown> = {}) => ({ requestId: 'req-1', pickup: placeAt(3), dropoff: DROPOFF, ...over });

const BAD_TOKENS = [
  'no token', 'an empty token', 'a number as token', 'an object as token', 'a garbage token', 'three garbage parts', 'a token over 4 KB',
  'a token signed with another secret', 'an expired token', 'a token without exp', 'a token without sub', 'an HS512 token',
  'an unsigned (alg none) token', 'a bad role claim', 'no role claim', 'a sub with illegal characters', 'a sub of 65 chars', 'an empty sub',
] as const;

/** Handshake `auth.token` values that must all be refused (undefined: no token at all). */
async function badTokens(): Promise<Record<(typeof BAD_TOKENS)[number], unknown>> {
  const key = new TextEncoder().encode(SECRET);
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const exp = Math.floor(Date.now() / 1000) + 3600;
  return {
    'no token': undefined,
    'an empty token': '',
    'a number as token': 12345,
    'an object as token': { sub: 'p1', role: 'passenger' },
    'a garbage token': 'not-a-jwt',
    'three garbage parts': 'aaa.bbb.ccc',
    'a token over 4 KB': `${await token('p1', 'passenger')}${long(5000, 'A')}`,
    'a token signed with another secret': await signToken('another-secret-0123456789abcdef', 'p1', 'passenger'),
    'an expired token': await signToken(SECRET, 'p1', 'passenger', Math.floor(Date.now() / 1000) - 60),
    'a token without exp': await new SignJWT({ role: 'passenger' }).setProtectedHeader({ alg: 'HS256' }).setSubject('p1').sign(key),
    'a token without sub': await new SignJWT({ role: 'passenger' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(key),
    'an HS512 token': await new SignJWT({ role: 'passenger' }).setProtectedHeader({ alg: 'HS512' }).setSubject('p1').setExpirationTime('1h').sign(key),
    'an unsigned (alg none) token': `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'p1', role: 'admin', exp })}.`,
    'a bad role claim': await signToken(SECRET, 'p1', 'superuser' as UserRole),
    'no role claim': await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('p1').setExpirationTime('1h').sign(key),
    'a sub with illegal characters': await signToken(SECRET, 'bad sub!', 'passenger'),
    'a sub of 65 chars': await signToken(SECRET, long(65, 'a'), 'passenger'),
    'an empty sub': await signToken(SECRET, '', 'passenger'),
  };
}

/** Open a socket with the given handshake auth; resolves 'connected' or the connect_error message. */
async function handshake(url: string, auth: Record<string, unknown>): Promise<string> {
  const socket = io(url, { auth, transports: ['websocket'], reconnection: false, forceNew: true });
  try {
    return await new Promise<string>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error('no answer to the handshake')), 10000);
      socket.once('connect', () => {
        clearTimeout(deadline);
        resolve('connected');
      });
      socket.once('connect_error', (err) => {
        clearTimeout(deadline);
        resolve(err.message);
      });
    });
  } finally {
    socket.close();
  }
}

/** Resolves with the disconnect reason once `c` is disconnected, or fails at the deadline. */
function disconnected(c: TestClient, ms = 10000): Promise<string> {
  if (!c.socket.connected) return Promise.resolve('already disconnected');
  return new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`${c.id} was not disconnected`)), ms);
    c.socket.once('disconnect', (reason) => {
      clearTimeout(deadline);
      resolve(reason);
    });
  });
}

/** A raw HTTP request: the status, the exact body text and its JSON. */
async function http(url: string, method: string, path: string, o: { authorization?: string; contentType?: string; body?: string | Buffer; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...o.headers };
  if (o.authorization !== undefined) headers.authorization = o.authorization;
  if (o.contentType !== undefined) headers['content-type'] = o.contentType;
  const res = await fetch(url + path, { method, headers, body: o.body });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

function expectWireError(error: unknown, code: ErrorCode, mentions?: string): void {
  expect(error).to.be.an('object').that.has.all.keys('code', 'message');
  const e = error as { code: string; message: unknown };
  expect(e.code).to.equal(code);
  expect(e.message).to.be.a('string').with.length.above(0);
  const message = e.message as string;
  if (mentions !== undefined) expect(message).to.contain(mentions);
  // Huge inputs are never echoed back, and nothing internal leaks.
  expect(message.length).to.be.at.most(1000);
  expect(message).not.to.match(LEAK);
}

function expectRefused(res: Response<unknown>, code: ErrorCode, mentions?: string): void {
  expect(res).to.have.all.keys('ok', 'error');
  expect(res.ok).to.equal(false);
  if (!res.ok) expectWireError(res.error, code, mentions);
}

interface Ctx {
  /** A call of the passenger `rider`, far from every driver. */
  call: Call;
  tokens: Record<Role | 'other', string>;
}

interface SocketRow {
  name: string;
  as: Role | 'other';
  event: string;
  payload: (c: Ctx) => unknown;
  code: ErrorCode;
  /** Text the message must contain (the field, for VALIDATION_FAILED). */
  mentions?: string;
}

const v = (name: string, event: string, payload: unknown, mentions: string, as: SocketRow['as'] = event.startsWith('call:') ? 'passenger' : 'driver'): SocketRow =>
  ({ name, as, event, payload: () => payload, code: 'VALIDATION_FAILED', mentions });

const SOCKET_ROWS: SocketRow[] = [
  // Not an object at all.
  v('a string payload', 'call:request', 'just a string', 'payload'),
  v('a number payload', 'call:request', 42, 'payload'),
  v('an array payload', 'call:request', [1, 2, 3], 'payload'),
  v('a boolean payload', 'call:request', true, 'payload'),
  v('a string payload to call:active', 'call:active', 'x', 'payload'),
  v('an array payload to driver:offline', 'driver:offline', [], 'payload'),
  // Missing fields.
  v('an empty call:request', 'call:request', {}, 'requestId'),
  v('call:request without pickup', 'call:request', { requestId: 'a', dropoff: DROPOFF }, 'pickup'),
  v('call:request without dropoff.lng', 'call:request', request({ dropoff: { lat: 37.5 } }), 'dropoff.lng'),
  v('driver:online without lat', 'driver:online', { lng: 127 }, 'lat'),
  v('driver:location without lng', 'driver:location', { lat: 37 }, 'lng'),
  // Out of range or wrong type.
  v('pickup.lat 91', 'call:request', request({ pickup: place({ lat: 91 }) }), 'pickup.lat'),
  v('pickup.lat -90.0001', 'call:request', request({ pickup: place({ lat: -90.0001 }) }), 'pickup.lat'),
  v('pickup.lng -181', 'call:request', request({ pickup: place({ lng: -181 }) }), 'pickup.lng'),
  v('dropoff.lng 180.5', 'call:request', request({ dropoff: { lat: 0, lng: 180.5 } }), 'dropoff.lng'),
  v('string numbers in pickup', 'call:request', request({ pickup: { lat: '37.55', lng: '126.97' } }), 'pickup.lat'),
  v('a null lat', 'call:request', request({ pickup: place({ lat: null }) }), 'pickup.lat'),
  v('driver:online lat 91', 'driver:online', { lat: 91, lng: 0 }, 'lat'),
  v('driver:online lng -181', 'driver:online', { lat: 0, lng: -181 }, 'lng'),
  v('driver:location with string numbers', 'driver:location', { lat: '37.5', lng: 127 }, 'lat'),
  v('an address of 201 chars', 'call:request', request({ pickup: place({ address: long(201) }) }), 'pickup.address'),
  v('an address that is a number', 'call:request', request({ dropoff: { ...DROPOFF, address: 5 } }), 'dropoff.address'),
  v('an empty requestId', 'call:request', request({ requestId: '' }), 'requestId'),
  v('a requestId of 65 chars', 'call:request', request({ requestId: long(65) }), 'requestId'),
  v('a numeric requestId', 'call:request', request({ requestId: 7 }), 'requestId'),
  // Huge strings, still under the frame limit: refused by the schema, never echoed.
  v('a requestId of 50 000 chars', 'call:request', request({ requestId: long(50000) }), 'requestId'),
  v('an address of 60 000 chars', 'call:request', request({ pickup: place({ address: long(60000) }) }), 'pickup.address'),
  v('a callId of 50 000 chars', 'offer:accept', { callId: long(50000) }, 'callId'),
  // Call ids.
  v('call:get without callId', 'call:get', {}, 'callId'),
  v('a callId with a space', 'call:get', { callId: 'a b' }, 'callId'),
  v('a callId with a path', 'call:get', { callId: '../x' }, 'callId'),
  v('a callId with a Redis glob', 'call:get', { callId: 'call:*' }, 'callId'),
  v('a callId in Hangul', 'call:get', { callId: '콜' }, 'callId'),
  v('an empty callId', 'call:get', { callId: '' }, 'callId'),
  v('a callId of 65 chars', 'call:get', { callId: long(65) }, 'callId'),
  v('a numeric callId', 'call:get', { callId: 123 }, 'callId'),
  v('offer:accept with an illegal callId', 'offer:accept', { callId: 'no good' }, 'callId'),
  // Events not implemented yet still validate their payloads.
  v('call:cancel without callId', 'call:cancel', {}, 'callId'),
  v('call:cancel with an illegal callId', 'call:cancel', { callId: 'a;b' }, 'callId'),
  v('call:cancel with a reason of 201 chars', 'call:cancel', { callId: 'c1', reason: long(201) }, 'reason'),
  v('call:cancel with a numeric reason', 'call:cancel', { callId: 'c1', reason: 5 }, 'reason'),
  v('offer:reject without callId', 'offer:reject', {}, 'callId'),
  v('trip:arrived with an illegal callId', 'trip:arrived', { callId: 'x y' }, 'callId'),
  v('trip:start without callId', 'trip:start', {}, 'callId'),
  v('trip:complete with a numeric callId', 'trip:complete', { callId: 1 }, 'callId'),
  v('trip:cancel with a reason of 201 chars', 'trip:cancel', { callId: 'c1', reason: long(201) }, 'reason'),
  // Unknown events, with an ack.
  v('an unknown event', 'call:delete', {}, 'call:delete', 'passenger'),
  v('the event __proto__', '__proto__', {}, 'unknown event', 'passenger'),
  v('the event constructor', 'constructor', {}, 'unknown event', 'driver'),
  v('the event hasOwnProperty', 'hasOwnProperty', {}, 'unknown event', 'admin'),
  v('an event name of 10 000 chars', long(10000, 'e'), {}, 'unknown event', 'passenger'),
  // Roles.
  { name: 'a passenger going online', as: 'passenger', event: 'driver:online', payload: () => PICKUP, code: 'FORBIDDEN' },
  { name: 'a passenger going offline', as: 'passenger', event: 'driver:offline', payload: () => ({}), code: 'FORBIDDEN' },
  { name: 'a passenger sending a location', as: 'passenger', event: 'driver:location', payload: () => PICKUP, code: 'FORBIDDEN' },
  { name: 'a passenger accepting its own call', as: 'passenger', event: 'offer:accept', payload: (c) => ({ callId: c.call.id }), code: 'FORBIDDEN' },
  { name: 'a driver requesting a call', as: 'driver', event: 'call:request', payload: () => request(), code: 'FORBIDDEN' },
  { name: 'a driver asking for active calls', as: 'driver', event: 'call:active', payload: () => ({}), code: 'FORBIDDEN' },
  { name: 'an admin requesting a call', as: 'admin', event: 'call:request', payload: () => request(), code: 'FORBIDDEN' },
  { name: 'an admin going online', as: 'admin', event: 'driver:online', payload: () => PICKUP, code: 'FORBIDDEN' },
  // Whose call.
  { name: 'call:get of a missing call', as: 'passenger', event: 'call:get', payload: () => ({ callId: 'no-such-call' }), code: 'NOT_FOUND' },
  { name: 'call:get of another passenger\'s call', as: 'other', event: 'call:get', payload: (c) => ({ callId: c.call.id }), code: 'FORBIDDEN' },
  { name: 'call:get by a driver never offered the call', as: 'driver', event: 'call:get', payload: (c) => ({ callId: c.call.id }), code: 'FORBIDDEN' },
  { name: 'offer:accept of a missing call', as: 'driver', event: 'offer:accept', payload: () => ({ callId: 'no-such-call' }), code: 'NOT_FOUND' },
  { name: 'offer:accept of a call never offered', as: 'driver', event: 'offer:accept', payload: (c) => ({ callId: c.call.id }), code: 'NOT_OFFERED' },
];

interface RestRow {
  name: string;
  method: string;
  path: (c: Ctx) => string;
  /** The Authorization header, if any. */
  auth?: (c: Ctx) => string;
  contentType?: string;
  body?: () => string | Buffer;
  headers?: Record<string, string>;
  status: number;
  code: ErrorCode;
  mentions?: string;
}

const bearer = (who: Role | 'other') => (c: Ctx) => `Bearer ${c.tokens[who]}`;
/** A body sent as these exact bytes instead of as JSON. */
class Raw {
  constructor(readonly bytes: string | Buffer) {}
}
const MALFORMED = new Raw('{"requestId": "a", ');
const json = (o: unknown) => () => (o instanceof Raw ? o.bytes : JSON.stringify(o));
const post = (name: string, path: string, body: unknown, status: number, code: ErrorCode, mentions?: string, who: Role | 'other' = 'other'): RestRow =>
  ({ name, method: 'POST', path: () => path, auth: bearer(who), contentType: 'application/json', body: json(body), status, code, mentions });
const gzip = { 'content-encoding': 'gzip' };
const get = (name: string, path: string, status: number, code: ErrorCode, mentions?: string, who: Role | 'other' = 'passenger'): RestRow =>
  ({ name, method: 'GET', path: () => path, auth: bearer(who), status, code, mentions });

const REST_ROWS: RestRow[] = [
  // Authorization.
  { name: 'no Authorization', method: 'GET', path: () => '/api/calls', status: 401, code: 'UNAUTHORIZED' },
  { name: 'no Authorization on POST', method: 'POST', path: () => '/api/calls', contentType: 'application/json', body: json(request()), status: 401, code: 'UNAUTHORIZED' },
  { name: 'a bare "Bearer"', method: 'GET', path: () => '/api/calls', auth: () => 'Bearer', status: 401, code: 'UNAUTHORIZED' },
  { name: 'a garbage bearer token', method: 'GET', path: () => '/api/calls', auth: () => 'Bearer garbage', status: 401, code: 'UNAUTHORIZED' },
  { name: 'Basic instead of Bearer', method: 'GET', path: () => '/api/calls', auth: () => 'Basic dXNlcjpwYXNz', status: 401, code: 'UNAUTHORIZED' },
  { name: 'a token without the Bearer word', method: 'GET', path: () => '/api/calls', auth: (c) => c.tokens.passenger, status: 401, code: 'UNAUTHORIZED' },
  { name: 'auth is checked before the body is parsed', method: 'POST', path: () => '/api/calls', contentType: 'application/json', body: () => '{"requestId":', status: 401, code: 'UNAUTHORIZED' },
  // Bodies.
  post('malformed JSON', '/api/calls', MALFORMED, 400, 'VALIDATION_FAILED', 'body'),
  post('a JSON null body', '/api/calls', null, 400, 'VALIDATION_FAILED'),
  post('a JSON array body', '/api/calls', [1], 400, 'VALIDATION_FAILED', 'payload'),
  post('a JSON string body', '/api/calls', 'x', 400, 'VALIDATION_FAILED'),
  { ...post('a corrupt gzip body', '/api/calls', new Raw('not gzip at all'), 400, 'VALIDATION_FAILED'), headers: gzip },
  post('a body over 16 KB', '/api/calls', request({ pickup: place({ address: long(17 * 1024) }) }), 413, 'PAYLOAD_TOO_LARGE'),
  { ...post('a gzip body over 16 KB once inflated', '/api/calls', new Raw(gzipSync(JSON.stringify({ junk: long(64 * 1024) }))), 413, 'PAYLOAD_TOO_LARGE'), headers: gzip },
  { ...post('a text/plain body', '/api/calls', new Raw('hello'), 400, 'VALIDATION_FAILED', 'requestId'), contentType: 'text/plain' },
  post('an empty object', '/api/calls', {}, 400, 'VALIDATION_FAILED', 'requestId'),
  post('pickup.lat 91', '/api/calls', request({ pickup: place({ lat: 91 }) }), 400, 'VALIDATION_FAILED', 'pickup.lat'),
  post('pickup.lng -181', '/api/calls', request({ pickup: place({ lng: -181 }) }), 400, 'VALIDATION_FAILED', 'pickup.lng'),
  post('string numbers', '/api/calls', request({ dropoff: { lat: '37.5', lng: '127' } }), 400, 'VALIDATION_FAILED', 'dropoff.lat'),
  post('an address of 201 chars', '/api/calls', request({ dropoff: { ...DROPOFF, address: long(201) } }), 400, 'VALIDATION_FAILED', 'dropoff.address'),
  post('an empty requestId', '/api/calls', request({ requestId: '' }), 400, 'VALIDATION_FAILED', 'requestId'),
  post('a requestId of 65 chars', '/api/calls', request({ requestId: long(65) }), 400, 'VALIDATION_FAILED', 'requestId'),
  post('a requestId of 10 000 chars', '/api/calls', request({ requestId: long(10000) }), 400, 'VALIDATION_FAILED', 'requestId'),
  // Routes and ids.
  { name: 'an unknown route', method: 'GET', path: () => '/nope', status: 404, code: 'NOT_FOUND' },
  get('an unknown /api route', '/api/nope', 404, 'NOT_FOUND'),
  { name: 'an unknown method on a call', method: 'DELETE', path: () => '/api/calls/abc', auth: bearer('admin'), status: 404, code: 'NOT_FOUND' },
  get('an id with illegal characters', '/api/calls/bad$id', 400, 'VALIDATION_FAILED', 'id'),
  get('an id of 65 chars', `/api/calls/${long(65)}`, 400, 'VALIDATION_FAILED', 'id'),
  get('an id with a bad %-escape', '/api/calls/%E0%A4%A', 400, 'VALIDATION_FAILED', 'path'),
  get('a missing call', '/api/calls/no-such-call', 404, 'NOT_FOUND'),
  { name: 'another passenger\'s call', method: 'GET', path: (c) => `/api/calls/${c.call.id}`, auth: bearer('other'), status: 403, code: 'FORBIDDEN' },
  { name: 'a driver reading a call never offered', method: 'GET', path: (c) => `/api/calls/${c.call.id}`, auth: bearer('driver'), status: 403, code: 'FORBIDDEN' },
  // Listing.
  get('limit=0', '/api/calls?limit=0', 400, 'VALIDATION_FAILED', 'limit'),
  get('limit=abc', '/api/calls?limit=abc', 400, 'VALIDATION_FAILED', 'limit'),
  get('limit=201', '/api/calls?limit=201', 400, 'VALIDATION_FAILED', 'limit', 'admin'),
  get('limit=1.5', '/api/calls?limit=1.5', 400, 'VALIDATION_FAILED', 'limit'),
  get('a repeated limit', '/api/calls?limit=1&limit=2', 400, 'VALIDATION_FAILED', 'limit'),
  get('status=bogus', '/api/calls?status=bogus', 400, 'VALIDATION_FAILED', 'status', 'admin'),
  get('a driver listing calls', '/api/calls', 403, 'FORBIDDEN', undefined, 'driver'),
  // Roles.
  post('a driver creating a call', '/api/calls', request(), 403, 'FORBIDDEN', undefined, 'driver'),
  post('an admin creating a call', '/api/calls', request(), 403, 'FORBIDDEN', undefined, 'admin'),
  { name: 'a passenger accepting a call', method: 'POST', path: (c) => `/api/calls/${c.call.id}/accept`, auth: bearer('passenger'), status: 403, code: 'FORBIDDEN' },
  { name: 'an admin accepting a call', method: 'POST', path: (c) => `/api/calls/${c.call.id}/accept`, auth: bearer('admin'), status: 403, code: 'FORBIDDEN' },
  { name: 'a driver accepting a call never offered', method: 'POST', path: (c) => `/api/calls/${c.call.id}/accept`, auth: bearer('driver'), status: 409, code: 'NOT_OFFERED' },
  { name: 'an accept with an illegal id', method: 'POST', path: () => '/api/calls/a.b/accept', auth: bearer('driver'), status: 400, code: 'VALIDATION_FAILED', mentions: 'id' },
  // Cancel is not implemented yet, but still validates.
  { ...post('a cancel reason of 201 chars', '', { reason: long(201) }, 400, 'VALIDATION_FAILED', 'reason', 'passenger'), path: (c) => `/api/calls/${c.call.id}/cancel` },
  { ...post('a numeric cancel reason', '', { reason: 5 }, 400, 'VALIDATION_FAILED', 'reason', 'passenger'), path: (c) => `/api/calls/${c.call.id}/cancel` },
  { ...post('a cancel with malformed JSON', '', MALFORMED, 400, 'VALIDATION_FAILED', 'body', 'passenger'), path: (c) => `/api/calls/${c.call.id}/cancel` },
  post('a cancel of an illegal id', '/api/calls/bad$id/cancel', {}, 400, 'VALIDATION_FAILED', 'id', 'passenger'),
];

describe('bad input', () => {
  let stack: Stack;
  let url: string;
  const ctx = {} as Ctx;
  const clients: Partial<Record<Role | 'other', TestClient>> = {};
  const extra: TestClient[] = [];

  before(async () => {
    stack = await startStack({ gateways: 2, dispatchers: 1, env: { OFFER_TIMEOUT_MS: 60000 } });
    url = stack.gateways[0]!.url;
    const users: Record<Role | 'other', [string, UserRole]> = {
      passenger: ['rider-bad', 'passenger'], other: ['rider-other', 'passenger'], driver: ['driver-bad', 'driver'], admin: ['admin-1', 'admin'],
    };
    const tokens: Partial<Ctx['tokens']> = {};
    for (const [k, [id, role]] of Object.entries(users) as [Role | 'other', [string, UserRole]][]) {
      clients[k] = await connect(url, id, role);
      tokens[k] = await token(id, role);
    }
    ctx.tokens = tokens as Ctx['tokens'];
    const res = await clients.passenger!.emit<Call>('call:request', request({ requestId: 'far-away' }));
    if (!res.ok) throw new Error(JSON.stringify(res.error));
    ctx.call = res.data;
  });
  after(async () => {
    for (const c of [...Object.values(clients), ...extra]) c.close();
    await stack.stop();
  });

  describe('handshake', () => {
    let tokens: Awaited<ReturnType<typeof badTokens>>;
    before(async () => {
      tokens = await badTokens();
    });

    it('a good token connects (the control case)', async () => {
      expect(await handshake(url, { token: await token('p1', 'passenger') })).to.equal('connected');
    });

    for (const name of BAD_TOKENS) {
      it(`${name} → connect_error UNAUTHORIZED, and the same token over REST → 401`, async () => {
        const t = tokens[name];
        expect(await handshake(url, t === undefined ? {} : { token: t })).to.equal('UNAUTHORIZED');
        const res = await http(url, 'GET', '/api/calls', typeof t === 'string' ? { authorization: `Bearer ${t}` } : {});
        expect(res.status).to.equal(401);
        expect(res.json).to.have.all.keys('error');
        expectWireError((res.json as { error: unknown }).error, 'UNAUTHORIZED');
      });
    }
  });

  describe('socket events', () => {
    for (const row of SOCKET_ROWS) {
      it(`${row.as} ${row.event.slice(0, 40)}: ${row.name} → ${row.code}`, async () => {
        const res = await clients[row.as]!.emit(row.event, row.payload(ctx));
        expectRefused(res, row.code, row.mentions);
      });
    }

    it('events without an ack are ignored: nothing happens, the socket stays connected and a later emit works', async () => {
      const rider = await connect(stack.gateways[1]!.url, 'rider-noack', 'passenger');
      extra.push(rider);
      const s = rider.socket as unknown as { emit(event: string, ...args: unknown[]): void };
      s.emit('call:request', request({ requestId: 'no-ack', pickup: placeAt(4) })); // valid, but no ack: ignored
      s.emit('call:request', 'garbage');
      s.emit('call:get');
      s.emit('no:such:event', { x: 1 });
      s.emit('no:such:event');
      s.emit('__proto__');
      expect(rider.socket.connected).to.equal(true);
      // Events are handled in order, so this answer comes after all of the above were handled.
      expect(await rider.emit('call:active', {})).to.deep.equal({ ok: true, data: [] });
      const made = await rider.emit<Call>('call:request', request({ requestId: 'with-ack', pickup: placeAt(4) }));
      expect(made.ok).to.equal(true);
      expect(rider.socket.connected).to.equal(true);
    });

    it('an event whose only argument is the ack is validated as an empty payload', async () => {
      expectRefused(await clients.passenger!.emit('call:get'), 'VALIDATION_FAILED', 'callId');
      expect(await clients.driver!.emit('driver:offline')).to.deep.equal({ ok: true, data: { status: 'offline' } });
    });

    it('unknown fields are dropped, never stored or echoed', async () => {
      const rider = await connect(url, 'rider-extra', 'passenger');
      extra.push(rider);
      const res = await rider.emit<Call>('call:request', { ...request({ requestId: 'extra', pickup: placeAt(5) }), passengerId: 'someone-else', status: 'completed', junk: long(30000) });
      if (!res.ok) throw new Error(JSON.stringify(res.error));
      expect(res.data).to.include({ passengerId: 'rider-extra', status: 'requested' });
      expect(res.data).not.to.have.property('junk');
      expect(JSON.stringify(res.data).length).to.be.below(2000);
    });

    for (const transport of ['websocket', 'polling'] as const) {
      it(`a ${transport} frame over MAX_SOCKET_FRAME_BYTES drops that connection only; the gateway keeps serving`, async () => {
        const gw = stack.gateways[1]!.url;
        const bystander = await connect(gw, `bystander-${transport}`, 'passenger');
        extra.push(bystander);
        const big = await connect(gw, `big-${transport}`, 'passenger', { socket: { transports: [transport] } });
        extra.push(big);
        const limit = testConfig(stack.env, 'gateway').MAX_SOCKET_FRAME_BYTES;
        expect(limit).to.equal(64 * 1024);
        const gone = disconnected(big);
        const ack = big.emit('call:request', request({ requestId: 'big', pickup: place({ address: long(limit + 1024) }) }));
        expect(await gone).to.be.a('string');
        expect(big.socket.connected).to.equal(false);
        // The oversized event never ran: no ack came, and no call was made.
        let acked = false;
        await ack.then(() => (acked = true), () => undefined);
        expect(acked).to.equal(false);

        expect(bystander.socket.connected).to.equal(true);
        expect(await bystander.emit('call:active', {})).to.deep.equal({ ok: true, data: [] });
        const again = await connect(gw, `big-${transport}`, 'passenger');
        extra.push(again);
        expect(await again.emit('call:active', {})).to.deep.equal({ ok: true, data: [] });
      });
    }
  });

  describe('REST', () => {
    for (const row of REST_ROWS) {
      it(`${row.method} ${row.name} → ${row.status} ${row.code}`, async () => {
        const res = await http(url, row.method, row.path(ctx), {
          authorization: row.auth?.(ctx),
          contentType: row.contentType,
          body: row.body?.(),
          headers: row.headers,
        });
        expect(res.status, res.text).to.equal(row.status);
        expect(res.text).not.to.match(LEAK);
        expect(res.json).to.be.an('object').that.has.all.keys('error');
        expectWireError((res.json as { error: unknown }).error, row.code, row.mentions);
      });
    }
  });

  describe('afterwards, on the same stack', () => {
    it('the rejected inputs changed nothing: the table\'s rider still has just its one call', async () => {
      expect(await clients.passenger!.emit('call:active', {})).to.deep.equal({ ok: true, data: [ctx.call] });
      const list = await http(url, 'GET', '/api/calls', { authorization: `Bearer ${ctx.tokens.passenger}` });
      expect(list.status).to.equal(200);
      expect(list.json).to.deep.equal({ items: [ctx.call] });
    });

    it('a normal ride still works: driver online, rider requests, driver gets the offer, accepts, rider told dispatched', async () => {
      const driver = await connect(stack.gateways[1]!.url, 'driver-ok', 'driver');
      const rider = await connect(url, 'rider-ok', 'passenger');
      extra.push(driver, rider);
      expect(await driver.emit('driver:online', { lat: PICKUP.lat + 0.001, lng: PICKUP.lng })).to.deep.equal({ ok: true, data: { status: 'available' } });
      const req = await rider.emit<Call>('call:request', { requestId: 'ride', pickup: PICKUP, dropoff: DROPOFF });
      if (!req.ok) throw new Error(JSON.stringify(req.error));
      const offer = await driver.next<Offer>('offer', (o) => o.callId === req.data.id);
      expect(offer).to.deep.include({ pickup: PICKUP, dropoff: DROPOFF });
      const won = await driver.emit<Call>('offer:accept', { callId: req.data.id });
      if (!won.ok) throw new Error(JSON.stringify(won.error));
      expect(won.data).to.include({ status: 'dispatched', driverId: 'driver-ok' });
      expect(await rider.next<Call>('call:status', (c) => c.status === 'dispatched')).to.deep.equal(won.data);
    });
  });
});
