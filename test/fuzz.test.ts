/**
 * Fuzz (fast-check): random and hostile payloads to every client event, from passenger, driver and
 * admin sockets, and random bodies, paths and query strings to every REST route. Every answer must
 * be a contract answer (an ack `{ ok: true, data }` or `{ ok: false, error: { code, message } }`
 * with a contract code; REST a 2xx JSON or the contract status with `{ error }`), never a stack
 * trace, never INTERNAL, never a dropped connection. Afterwards every process still answers and a
 * normal dispatch works. Rate limits are off so they do not mask answers.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import type { Socket } from 'socket.io-client';
import {
  ACTIONS, actionOfEvent, actionOfRoute, answerCodes, type ClientEvent, type ErrorCode, type Response, type UserRole,
} from '../protocol/index.js';
import { bindActions, type Services } from '../server/gateway/actions.js';
import { connect, DROPOFF, token, type TestClient } from './support/clients.js';
import { ackProblem, normalRide, rawHttp, restProblem, type RawResponse } from './support/hostile.js';
import { createTestDatabase, type TestDatabase } from './support/postgres.js';
import { startStack, type Stack } from './support/stack.js';

/** Every client event of the contract; `satisfies` fails to compile when the protocol gains one. */
const EVENTS = {
  'call:request': true, 'call:cancel': true, 'call:get': true, 'call:active': true,
  'driver:online': true, 'driver:offline': true, 'driver:location': true,
  'offer:accept': true, 'offer:reject': true,
  'trip:arrived': true, 'trip:start': true, 'trip:complete': true, 'trip:cancel': true,
  'call:redispatch': true, 'driver:suspend': true, 'driver:lift': true,
  'ops:join': true, 'ops:leave': true,
} as const satisfies Record<ClientEvent, true>;
const EVENT_NAMES = Object.keys(EVENTS) as ClientEvent[];

const RUNS = 200;
/** Where the final ride happens: far from the fuzz, with coordinates that survive Redis cjson's 14 significant digits. */
const AFTER = { lat: 36.9, lng: 126.5 };
/** Payloads stay under MAX_SOCKET_FRAME_BYTES (64 KB): an oversized frame drops the connection by design (bad-input covers it). */
const MAX_PAYLOAD_BYTES = 56 * 1024;
const ROLES: UserRole[] = ['passenger', 'driver', 'admin'];

// ---- arbitraries -------------------------------------------------------------------------------

const HOSTILE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', '__defineGetter__', 'then', ''];
const FIELD_KEYS = ['callId', 'lat', 'lng', 'requestId', 'pickup', 'dropoff', 'reason', 'address', 'status', 'passengerId', 'driverId', 'role', 'sub'];
const key = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(...HOSTILE_KEYS, ...FIELD_KEYS));

/** A string of 1–20 KB (in UTF-8 bytes) of one repeated character. */
const bigString = fc
  .tuple(fc.integer({ min: 1024, max: 20 * 1024 }), fc.constantFrom('x', '콜', '\u0000', '%', '"', '\\', '🚕', '\u202e', 'A'))
  .map(([bytes, ch]) => ch.repeat(Math.floor(bytes / Buffer.byteLength(ch))));

const numberish = fc.oneof(
  fc.double(), // NaN, ±Infinity and -0 included (JSON turns the first three into null)
  fc.integer(),
  fc.double({ min: -200, max: 200, noNaN: true }),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 1e308, -0, 90.0000001, -180.0000001, 180, -180, 90, -90, 85.05112878, 85.05112879, -85.0511288),
  fc.bigInt().map(String),
  fc.constantFrom('NaN', 'Infinity', '-Infinity', '-0', '1e309', '0x1F', ' 37.5 ', '37,5', '1e2', '90', 'null', 'undefined', 'true', '[]', '{}'),
);

const scalar = fc.oneof(
  numberish,
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 40 }), // any code point, lone surrogates included
  fc.constantFrom('__proto__', 'constructor', '', ' ', '\u0000', '../../etc/passwd', 'call:*', '*', '${jndi:ldap://x}', '<script>alert(1)</script>', "' OR 1=1 --", '배차완료된 콜입니다'),
  bigString,
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.date({ noInvalidDate: true }),
);

/** Random JSON-ish trees with hostile keys. */
const tree = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('node'), { maxLength: 4 }),
    fc.dictionary(key, tie('node'), { maxKeys: 5 }),
  ),
})).node;

/** Nesting far deeper than any schema: arrays, objects, or callIds inside callIds. */
const deep = fc.tuple(fc.integer({ min: 50, max: 2000 }), fc.constantFrom('array', 'object', 'callId', 'pickup')).map(([depth, kind]) => {
  let v: unknown = kind === 'callId' ? 'abc' : 1;
  for (let i = 0; i < depth; i++) {
    if (kind === 'array') v = [v];
    else if (kind === 'object') v = { a: v };
    else if (kind === 'callId') v = { callId: v };
    else v = { lat: 1, lng: 1, pickup: v };
  }
  return v;
});

/** Own `__proto__` / `constructor` keys, as JSON.parse makes them (prototype pollution attempts). */
const pollution = fc.constantFrom(
  '{"__proto__":{"polluted":true,"role":"admin"}}',
  '{"callId":"abc","__proto__":{"callId":"other","polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '{"lat":1,"lng":2,"__proto__":{"lat":100,"polluted":true}}',
  '{"requestId":"r1","pickup":{"lat":1,"lng":1,"__proto__":{"address":"x","polluted":true}},"dropoff":{"lat":1,"lng":1},"__proto__":{"passengerId":"someone"}}',
  '{"__proto__":null}',
  '[{"__proto__":{"polluted":true}}]',
).map((s) => JSON.parse(s) as unknown);

const validId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
/**
 * Ids of real calls seen so far (acks and pushes), so that fuzzed payloads also reach calls that
 * exist, in whatever state the fuzz has driven them to.
 */
const knownCalls: string[] = [];
const knownCall = fc.nat().map((i) => knownCalls[i % Math.max(knownCalls.length, 1)] ?? 'no-such-call');
const idish = fc.oneof(
  { weight: 3, arbitrary: knownCall },
  { weight: 1, arbitrary: validId },
  { weight: 1, arbitrary: scalar },
  { weight: 1, arbitrary: fc.constantFrom('no-such-call', 'call:*', 'a'.repeat(65), 'a b', '../x') },
  { weight: 1, arbitrary: tree },
);
/** The fuzz's own patch of map: valid positions land here, so the fuzz driver gets offers for the fuzz rider's calls. */
const AREA = { lat: 35.1, lng: 129.0 };
const near = (c: number) => fc.double({ min: c - 0.01, max: c + 0.01, noNaN: true });
/** Edges of the contract's ranges, and of what Redis GEO can index (±85.05112878). */
const latEdge = fc.constantFrom(90, -90, 85.05112878, -85.05112878, 85.05112879, -85.05112879, 89.999999, 0, -0);
const lngEdge = fc.constantFrom(180, -180, 179.999999, 0, -0);
const lat = fc.oneof({ weight: 4, arbitrary: near(AREA.lat) }, { weight: 2, arbitrary: latEdge }, fc.double({ min: -90, max: 90, noNaN: true }), numberish, scalar);
const lng = fc.oneof({ weight: 4, arbitrary: near(AREA.lng) }, { weight: 2, arbitrary: lngEdge }, fc.double({ min: -180, max: 180, noNaN: true }), numberish, scalar);
const validPlace = fc.record({ lat: fc.oneof({ weight: 5, arbitrary: near(AREA.lat) }, latEdge), lng: fc.oneof({ weight: 5, arbitrary: near(AREA.lng) }, lngEdge), address: fc.string({ maxLength: 200 }) }, { requiredKeys: ['lat', 'lng'] });
const place = fc.oneof(
  { weight: 2, arbitrary: validPlace },
  { weight: 1, arbitrary: fc.record({ lat, lng, address: fc.oneof(fc.string({ maxLength: 200 }), scalar, tree) }, { requiredKeys: [] }) },
);
/** Extra fields an attacker adds to a well-formed payload. */
const extras = fc.dictionary(key, fc.oneof(scalar, tree), { maxKeys: 3 });
const withExtras = <T extends object>(a: fc.Arbitrary<T>) => fc.tuple(a, extras).map(([p, x]) => ({ ...x, ...p }));

/** Payloads shaped like each event's schema, with every field random or hostile (valid ones included). */
const callRef = withExtras(fc.record({ callId: idish }, { requiredKeys: [] }));
const cancel = withExtras(fc.record({ callId: idish, reason: fc.oneof(fc.string({ maxLength: 210 }), scalar) }, { requiredKeys: [] }));
const latLng = withExtras(fc.oneof(fc.record({ lat, lng }), fc.record({ lat, lng }, { requiredKeys: [] })));
const request = withExtras(fc.record({
  requestId: fc.oneof({ weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 64 }) }, scalar),
  pickup: fc.oneof(place, tree),
  dropoff: fc.oneof(place, tree),
}, { requiredKeys: [] }));
const empty = fc.oneof(fc.constant({}), extras);
/** The fuzz's own driver ids are known to nobody here: a suspension lands on an id of its own, never on the fuzz driver (its final ride must go on). */
const driverIdish = fc.oneof({ weight: 2, arbitrary: validId.map((id) => `fzs-${id}`.slice(0, 64)) }, { weight: 1, arbitrary: scalar }, { weight: 1, arbitrary: tree });
const suspend = withExtras(fc.record({
  driverId: driverIdish, reason: fc.oneof(fc.string({ maxLength: 210 }), scalar), durationMs: fc.oneof(fc.integer({ min: -10, max: 40 * 24 * 3600 * 1000 }), scalar),
}, { requiredKeys: [] }));
const lift = withExtras(fc.record({ driverId: driverIdish, reason: fc.oneof(fc.string({ maxLength: 210 }), scalar) }, { requiredKeys: [] }));
const SHAPED: Record<ClientEvent, fc.Arbitrary<unknown>> = {
  'call:request': request,
  'call:cancel': cancel,
  'call:get': callRef,
  'call:active': empty,
  'driver:online': latLng,
  'driver:offline': empty,
  'driver:location': latLng,
  'offer:accept': callRef,
  'offer:reject': callRef,
  'trip:arrived': callRef,
  'trip:start': callRef,
  'trip:complete': callRef,
  'trip:cancel': cancel,
  'call:redispatch': cancel,
  'driver:suspend': suspend,
  'driver:lift': lift,
  'ops:join': empty,
  'ops:leave': empty,
};

/** The role an event is meant for is drawn more often, so more payloads get past the role check. */
const roleFor = (event: ClientEvent) => fc.oneof(
  { weight: 2, arbitrary: fc.constant<UserRole>(event.startsWith('call:') ? 'passenger' : 'driver') },
  { weight: 1, arbitrary: fc.constantFrom(...ROLES) },
);

/** Runs every fuzz starts with: positions the contract allows but Redis GEO cannot index (found by this fuzz). */
const POLES = [{ lat: 90, lng: 180 }, { lat: -90, lng: -180 }, { lat: 85.05112879, lng: 0 }];
const EXAMPLES: Partial<Record<ClientEvent, [UserRole, unknown[]][]>> = {
  'driver:online': POLES.map((p) => ['driver', [p]]),
  'driver:location': POLES.map((p) => ['driver', [p]]),
  'call:request': POLES.map((p, i) => ['passenger', [{ requestId: `pole-${i}`, pickup: p, dropoff: { lat: AREA.lat, lng: AREA.lng } }]]),
};

/** Binary payloads (sent as Socket.IO attachments). */
const binary = fc.oneof(
  fc.uint8Array({ maxLength: 256 }).map((a) => Buffer.from(a)),
  fc.uint8Array({ maxLength: 64 }).map((a) => ({ callId: Buffer.from(a) })),
  fc.constant({ lat: new Float64Array([37.5]), lng: new Float64Array([127]) }),
);

const anything = fc.anything({
  maxDepth: 3, withTypedArray: true, withSparseArray: true, withNullPrototype: true, withBoxedValues: true,
  withMap: true, withSet: true, withDate: true, withObjectString: true, key,
});

const payloadFor = (event: ClientEvent) => fc.oneof(
  { weight: 4, arbitrary: SHAPED[event] },
  { weight: 2, arbitrary: tree },
  { weight: 2, arbitrary: anything },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: pollution },
  { weight: 1, arbitrary: binary },
);

/** The arguments before the ack: usually one payload, sometimes none, sometimes several. */
const argsFor = (event: ClientEvent) => fc.oneof(
  { weight: 8, arbitrary: payloadFor(event).map((p) => [p]) },
  { weight: 1, arbitrary: fc.constant([] as unknown[]) },
  { weight: 1, arbitrary: fc.array(payloadFor(event), { minLength: 2, maxLength: 3 }) },
);

/** Roughly how many bytes a payload takes on the wire. */
function wireBytes(v: unknown): number {
  let binaryBytes = 0;
  const json = JSON.stringify(v, (_k, x: unknown) => {
    if (ArrayBuffer.isView(x)) {
      binaryBytes += x.byteLength;
      return null;
    }
    return x;
  }) as string | undefined;
  return Buffer.byteLength(json ?? '') + binaryBytes;
}

/**
 * True when socket.io-client can send `v` as it is: under the frame limit, and not a binary packet
 * with an own `__proto__` key (the client's binary encoder copies objects key by key, which turns
 * that key into a prototype and can throw before anything is sent).
 */
function sendable(v: unknown): boolean {
  if (wireBytes(v) > MAX_PAYLOAD_BYTES) return false;
  let binary = false;
  let protoKey = false;
  const seen = new Set<unknown>();
  const walk = (x: unknown): void => {
    if (typeof x !== 'object' || x === null || seen.has(x)) return;
    seen.add(x);
    if (ArrayBuffer.isView(x) || x instanceof ArrayBuffer) {
      binary = true;
      return;
    }
    if (Object.hasOwn(x, '__proto__')) protoKey = true;
    for (const k of Object.keys(x)) walk((x as Record<string, unknown>)[k]);
  };
  walk(v);
  return !(binary && protoKey);
}

/** Events socket.io-client refuses to emit itself (not something the server can ever receive from it). */
const CLIENT_RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);

// ---- REST arbitraries --------------------------------------------------------------------------

const segment = fc.oneof(
  { weight: 2, arbitrary: knownCall },
  validId,
  fc.webSegment(),
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.constantFrom('no-such-call', '%E0%A4%A', '%00', '%', '..', '.', '%2e%2e', '%2F', '__proto__', 'constructor', 'a'.repeat(65), 'a'.repeat(5000), '%F0%9F%9A%95', '~', "'", 'a;b', 'a,b'),
);
const queryPart = fc.oneof(
  fc.webQueryParameters(),
  fc.constantFrom(
    'limit=1e309', 'limit=-0', 'limit=0x10', 'limit[]=1', 'limit=1&limit=2', 'limit=%205', 'limit=+5', 'status[__proto__]=x', '__proto__[polluted]=1',
    'constructor[prototype][polluted]=1', 'status=constructor', 'status=__proto__', '%ZZ', 'limit=%E0%A4%A', 'status=dispatched&limit=200',
    'status=completed', 'limit=201', `limit=${'9'.repeat(400)}`, `status=${'x'.repeat(3000)}`, '&&&', '=', 'limit',
  ),
  fc.array(fc.tuple(fc.oneof(fc.constantFrom('limit', 'status', '__proto__', 'x'), fc.string({ maxLength: 8 })), fc.string({ maxLength: 20 })), { maxLength: 4 })
    .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')),
);
const jsonBody = fc.oneof(request, cancel, latLng, tree, pollution, deep, fc.constant({ reason: 'fuzz' })).map((v) => JSON.stringify(v) ?? 'null');
const body = fc.oneof(
  { weight: 6, arbitrary: jsonBody },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: fc.constantFrom('', 'null', '[]', '"x"', '1', '{', '{"requestId":', '\u0000', '\ufeff{}', '{"a":1}{"b":2}') },
  { weight: 1, arbitrary: bigString.map((s) => JSON.stringify({ junk: s })) },
);
const contentType = fc.constantFrom(
  'application/json', 'application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'application/json; charset=latin1',
  'application/json; charset=bogus', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/*+json', '', undefined,
);
const contentEncoding = fc.constantFrom(undefined, undefined, undefined, 'gzip', 'deflate', 'br', 'identity', 'x-unknown');
const method = fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE');
type Route =
  | 'POST /api/calls' | 'GET /api/calls' | 'GET /api/calls/:id' | 'GET /api/calls/active' | 'POST /api/calls/:id/cancel'
  | 'GET /api/calls/:id/history' | 'GET /api/calls/:id/replay' | 'GET /api/calls/closed' | 'GET /api/calls/export' | 'GET /api/ops/summary'
  | 'POST /api/driver/online' | 'POST /api/driver/offline' | 'POST /api/driver/location'
  | 'POST /api/calls/:id/accept' | 'POST /api/calls/:id/reject'
  | 'POST /api/calls/:id/arrived' | 'POST /api/calls/:id/start' | 'POST /api/calls/:id/complete' | 'POST /api/calls/:id/back-out'
  | 'POST /api/calls/:id/redispatch' | 'POST /api/drivers/:id/suspend' | 'POST /api/drivers/:id/lift' | 'GET /api/admin/actions'
  | 'GET /api/ops/snapshot' | 'POST /api/ops/leave';
const ROUTES: Route[] = [
  'POST /api/calls', 'GET /api/calls', 'GET /api/calls/:id', 'GET /api/calls/active', 'POST /api/calls/:id/cancel',
  'GET /api/calls/:id/history', 'GET /api/calls/:id/replay', 'GET /api/calls/closed', 'GET /api/calls/export', 'GET /api/ops/summary',
  'POST /api/driver/online', 'POST /api/driver/offline', 'POST /api/driver/location',
  'POST /api/calls/:id/accept', 'POST /api/calls/:id/reject',
  'POST /api/calls/:id/arrived', 'POST /api/calls/:id/start', 'POST /api/calls/:id/complete', 'POST /api/calls/:id/back-out',
  'POST /api/calls/:id/redispatch', 'POST /api/drivers/:id/suspend', 'POST /api/drivers/:id/lift', 'GET /api/admin/actions',
  'GET /api/ops/snapshot', 'POST /api/ops/leave',
];

/** Every code an event may answer, from the action table. */
function socketCodes(event: ClientEvent): ErrorCode[] {
  const action = actionOfEvent(event);
  if (!action) throw new Error(`${event} is not in the action table`);
  return answerCodes(action, 'socket');
}

/**
 * A route answered with its own method must answer one of its action's codes. (Another method is
 * another route, or none: 404.)
 */
function codeProblem(route: Route, method: string | undefined, res: RawResponse): string | null {
  const [m, pattern] = route.split(' ') as [string, string];
  if ((method ?? m) !== m || res.status < 400) return null;
  const action = actionOfRoute(m, pattern);
  if (!action) return `${route} is not in the action table`;
  const code = (res.json as { error: { code: ErrorCode } }).error.code;
  const allowed = answerCodes(action, 'rest');
  return allowed.includes(code) ? null : `${code} is not among the action's codes (${allowed.join(', ')})`;
}

describe('fuzz', function () {
  this.timeout(120000);
  let stack: Stack;
  let url: string;
  const clients = {} as Record<UserRole, TestClient>;
  const tokens = {} as Record<UserRole, string>;
  /** Every non-ok code seen, for the failure messages. */
  const seen: Record<string, number> = {};

  let db: TestDatabase;

  before(async () => {
    // On PostgreSQL, so the gateway reads the ledger and the fuzz reaches the ledger's routes.
    db = await createTestDatabase();
    stack = await startStack({ gateways: 1, dispatchers: 1, env: { RATE_LIMIT_PER_S: 0, LOCATION_RATE_LIMIT_PER_S: 0, DATABASE_URL: db.url } });
    url = stack.gateways[0]!.url;
    for (const role of ROLES) {
      clients[role] = await connect(url, `fz-${role}`, role);
      tokens[role] = await token(`fz-${role}`, role);
    }
  });
  after(async () => {
    for (const c of Object.values(clients)) c.close();
    await stack.stop();
    await db.drop();
  });

  it('the fuzzed events and routes are exactly the server\'s action bindings and the action table\'s routes', () => {
    // The table only closes over the services; nothing runs.
    const bound = Object.keys(bindActions({} as Services));
    expect(bound.sort()).to.deep.equal(ACTIONS.map((a) => a.name).sort());
    expect(bound.flatMap((name) => ACTIONS.find((a) => a.name === name)?.event ?? []).sort()).to.deep.equal([...EVENT_NAMES].sort());
    expect(ACTIONS.flatMap((a) => (a.route ? [`${a.route.method.toUpperCase()} ${a.route.path}`] : [])).sort()).to.deep.equal([...ROUTES].sort());
  });

  /** Emit with an ack; the ack, or a failure if none came (a dropped connection or a swallowed event). */
  async function emit(role: UserRole, event: string, args: unknown[]): Promise<Response<unknown>> {
    const c = clients[role];
    if (!c.socket.connected) throw new Error(`the ${role} socket was disconnected`);
    const s = c.socket as unknown as Socket;
    return (await s.timeout(5000).emitWithAck(event, ...args)) as Response<unknown>;
  }

  /** Keep the ids of calls in an answer, or pushed to the fuzzing sockets since the last look. */
  function remember(data: unknown): void {
    const found = [data, ...(Array.isArray(data) ? (data as unknown[]) : [])]
      .map((d) => (typeof d === 'object' && d !== null ? (d as { id?: unknown }).id : undefined));
    for (const c of Object.values(clients)) {
      for (const s of c.seen.splice(0)) found.push((s.data as { id?: unknown; callId?: unknown } | null)?.callId ?? (s.data as { id?: unknown } | null)?.id);
    }
    for (const id of found) if (typeof id === 'string' && !knownCalls.includes(id)) knownCalls.push(id);
  }

  /** `allowed`: the codes the action table lists for this event (protocol/actions.ts). */
  function check(res: unknown, what: () => string, allowed: readonly ErrorCode[]): void {
    const problem = ackProblem(res);
    if (problem) throw new Error(`${what()}: ${problem}`);
    const r = res as Response<unknown>;
    if (!r.ok && !allowed.includes(r.error.code)) throw new Error(`${what()}: ${r.error.code} is not among the action's codes (${allowed.join(', ')})`);
    if (r.ok) remember(r.data);
    if (r.ok) seen.ok = (seen.ok ?? 0) + 1;
    else {
      seen[r.error.code] = (seen[r.error.code] ?? 0) + 1;
      // INTERNAL means an input reached code that did not expect it.
      if (r.error.code === 'INTERNAL' || r.error.code === 'UNAVAILABLE') throw new Error(`${what()}: ${JSON.stringify(r.error)}`);
    }
  }

  describe('socket events', () => {
    for (const event of EVENT_NAMES) {
      it(`${event}: ${RUNS} random and hostile payloads from every role each get a contract ack`, async () => {
        await fc.assert(
          fc.asyncProperty(roleFor(event), argsFor(event), async (role, args) => {
            fc.pre(sendable(args));
            const res = await emit(role, event, args);
            check(res, () => `${role} ${event} ${JSON.stringify(args)?.slice(0, 300)}`, socketCodes(event));
          }),
          { numRuns: RUNS, examples: EXAMPLES[event] ?? [] },
        );
      });
    }

    it(`unknown and odd event names: ${RUNS} random names each get a contract ack`, async () => {
      const name = fc.oneof(
        fc.string({ maxLength: 30 }),
        fc.string({ unit: 'binary', maxLength: 20 }),
        fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'call:request ', 'CALL:GET', 'offer:accept\u0000', 'offer', 'call:status', 'error', '*', 'x'.repeat(5000)),
      ).filter((n) => !CLIENT_RESERVED.has(n));
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...ROLES), name, fc.oneof(tree, fc.constant({})), async (role, event, payload) => {
          fc.pre(sendable([event, payload]));
          const res = await emit(role, event, [payload]);
          check(res, () => `${role} ${JSON.stringify(event).slice(0, 80)}`, Object.hasOwn(EVENTS, event) ? socketCodes(event as ClientEvent) : ['VALIDATION_FAILED']);
          if (!Object.hasOwn(EVENTS, event)) expect(res).to.have.nested.property('error.code', 'VALIDATION_FAILED');
        }),
        { numRuns: RUNS },
      );
    });
  });

  describe('REST', () => {
    async function send(route: Route, o: {
      auth: UserRole | 'none' | 'garbage'; id: string; query: string; body: string | Buffer;
      contentType: string | undefined; encoding: string | undefined; method?: string;
    }): Promise<RawResponse> {
      const [m, pattern] = route.split(' ') as [string, string];
      let path = pattern.replace(':id', o.id);
      if (o.query) path += `?${o.query}`;
      const headers: Record<string, string> = {};
      if (o.auth === 'garbage') headers.authorization = 'Bearer x.y.z';
      else if (o.auth !== 'none') headers.authorization = `Bearer ${tokens[o.auth]}`;
      if (o.contentType !== undefined) headers['content-type'] = o.contentType;
      if (o.encoding !== undefined) headers['content-encoding'] = o.encoding;
      const verb = o.method ?? m;
      return rawHttp(url, verb, path, { headers, body: verb === 'GET' || verb === 'DELETE' ? undefined : o.body });
    }

    for (const route of ROUTES) {
      it(`${route}: ${RUNS} random bodies, ids, query strings, headers and tokens each get a contract answer`, async () => {
        const auth = fc.constantFrom<UserRole | 'none' | 'garbage'>('passenger', 'passenger', 'driver', 'driver', 'admin', 'admin', 'none', 'garbage');
        await fc.assert(
          fc.asyncProperty(
            fc.record({
              auth, id: segment, query: fc.oneof(fc.constant(''), queryPart), body, contentType, encoding: contentEncoding,
              method: fc.option(method, { freq: 5, nil: undefined }),
            }),
            async (o) => {
              const res = await send(route, o);
              const problem = restProblem(res) ?? codeProblem(route, o.method, res);
              if (problem) throw new Error(`${o.method ?? ''} ${route} ${JSON.stringify({ ...o, body: o.body.toString().slice(0, 200) })}: ${problem}`);
              if (res.status >= 500) throw new Error(`${route} ${JSON.stringify(o).slice(0, 300)}: ${res.status} ${res.text.slice(0, 200)}`);
            },
          ),
          { numRuns: RUNS },
        );
      });
    }
  });

  describe('afterwards', () => {
    it('the fuzz reached past validation: some events succeeded and the services answered with their own codes', () => {
      const summary = JSON.stringify(seen);
      expect(seen.ok ?? 0, summary).to.be.at.least(1);
      expect(seen.VALIDATION_FAILED ?? 0, summary).to.be.at.least(1);
      for (const code of ['FORBIDDEN', 'NOT_FOUND']) expect(seen[code] ?? 0, summary).to.be.at.least(1);
    });

    it('no prototype was polluted in this process (the gateway and dispatcher run in it)', () => {
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
      expect(Object.prototype).not.to.have.property('polluted');
      expect(Object.prototype).not.to.have.property('role');
    });

    it('every process still answers /healthz and /readyz, and every fuzzing socket is still connected', async () => {
      for (const app of [...stack.gateways, ...stack.dispatchers]) {
        expect((await rawHttp(app.url, 'GET', '/healthz')).status).to.equal(200);
        expect((await rawHttp(app.url, 'GET', '/readyz')).status).to.equal(200);
      }
      for (const role of ROLES) expect(clients[role].socket.connected, role).to.equal(true);
    });

    it('a normal dispatch works: driver online, rider requests, offer, accept, rider told dispatched', async () => {
      const call = await normalRide(url, url, 'after-fuzz', AFTER);
      expect(call).to.deep.include({ pickup: AFTER, dropoff: DROPOFF });
    });
  });
});
