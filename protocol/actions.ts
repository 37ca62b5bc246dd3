/**
 * The table of actions: for every thing a client can ask, its Socket.IO event and REST route, who
 * may ask, the payload and result schemas, and every error code it can answer. The server runs
 * every request through it (one pipeline for both transports), the OpenAPI and AsyncAPI generators
 * read it, the fuzz test holds the server to it, and docs/protocol.md describes it. An action's own
 * codes are listed with it; the codes every action can answer over a transport (validation, limits,
 * outages) are listed once per transport below.
 */
import type { z } from 'zod';
import type { ErrorCode } from './errors.js';
import type {
  AckData, ClientEvent, Payload, ServerEvent, ServerToClientEvents,
} from './events.js';
import {
  Call, CallCancel, CallHistory, CallList, CallRef, CallReplay, CallRequest, Calls, CancelBody, ClosedCalls, ClosedQuery, DriverLocationPush, DriverOnline,
  Empty, ExportLine, ExportQuery, Hello, LatLng, ListQuery, Offer, OfferRevoked, OfflineResult, OnlineResult, OpsDelta, OpsSnapshot, OpsSummary, TripCancel,
  AdminActions, AdminActionsQuery, CallRedispatch, DriverLift, DriverLiftedPush, DriverSuspend, DriverSuspendedPush, LiftBody, LiftResult, RedispatchBody,
  SuspendBody, SuspendResult,
} from './schemas.js';
import type { UserRole } from './status.js';

/** Answers any socket event can get, whatever it does. */
export const SOCKET_CODES = ['VALIDATION_FAILED', 'RATE_LIMITED', 'UNAVAILABLE', 'INTERNAL'] as const satisfies readonly ErrorCode[];
/** Answers any REST route under /api can get: no or bad token, origin refused, bad body, limits, outages. */
export const REST_CODES = [
  'UNAUTHORIZED', 'FORBIDDEN', 'VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE', 'RATE_LIMITED', 'UNAVAILABLE', 'INTERNAL',
] as const satisfies readonly ErrorCode[];

export type Transport = 'socket' | 'rest';

/** The payload field a route's path parameter `:id` carries by default: `/api/calls/:id/…` is `{ callId }`. */
export const PATH_ID_FIELD = 'callId';
/** The payload fields a path `:id` may carry (RestRoute.idField). */
export type PathIdField = 'callId' | 'driverId';

export interface RestRoute {
  method: 'get' | 'post';
  /** Express style: `/api/calls/:id`, where `:id` is the payload's `idField` (default `callId`, PATH_ID_FIELD). */
  path: string;
  /** The payload field the path's `:id` carries; unset: `callId`. */
  idField?: PathIdField;
  /** The status of a success. */
  status: 200 | 201;
  /** A second success status and when it is answered (a repeated request). */
  also?: { status: 200; when: string };
  /** The JSON body, when the route takes one: the payload's fields besides the path id. */
  body?: z.ZodType;
  /** The query string, when the route reads one: the payload's fields. */
  query?: z.ZodType;
  /**
   * The answer is streamed as NDJSON (`application/x-ndjson`), one `result` per line, instead of one
   * JSON body: the binding answers an async iterable of them.
   */
  ndjson?: true;
}

/**
 * One action. With an event `E`, the compiler holds its schemas to the event map in events.ts: it
 * takes `Payload<E>` and answers `AckData<E>`, over the socket and over REST alike. `Action` alone
 * is any action.
 */
export interface Action<E extends ClientEvent | undefined = ClientEvent | undefined> {
  /** Stable name, `noun.verb`: the OpenAPI operationId and the AsyncAPI operation name. */
  name: string;
  summary: string;
  /** Roles that may ask; every other role is answered FORBIDDEN. */
  roles: readonly UserRole[];
  event?: E;
  /** Every action has a REST route as well. */
  route: RestRoute;
  /** The socket payload; over REST the path id, the body and the query carry its fields (restPayload). */
  payload: z.ZodType<E extends ClientEvent ? Payload<E> : unknown>;
  /** The ack's `data`, and the REST response body. */
  result: z.ZodType<E extends ClientEvent ? AckData<E> : unknown>;
  /** The codes this action answers by itself, besides the transport's. */
  codes: readonly ErrorCode[];
}

/** An action of the table with its name and event as types. */
export type EventAction<N extends string, E extends ClientEvent> = Action<E> & { name: N; event: E };
/** An action with no socket event (REST only), its payload and result typed by their schemas. */
export type RestOnlyAction<N extends string, P extends z.ZodType, R extends z.ZodType> =
  Omit<Action<undefined>, 'payload' | 'result'> & { name: N; event?: undefined; payload: P; result: R };

/** An action with an event: its schemas must be the event's (the compiler checks); its name stays a literal type. */
function evented<const N extends string, E extends ClientEvent>(a: Omit<Action<E>, 'name' | 'event'> & { name: N; event: E }): EventAction<N, E> {
  return a;
}

/** An action with a route and no event: its types come from its schemas. */
function restOnly<const N extends string, P extends z.ZodType, R extends z.ZodType>(
  a: Omit<Action<undefined>, 'name' | 'event' | 'payload' | 'result'> & { name: N; payload: P; result: R },
): RestOnlyAction<N, P, R> {
  return a;
}

/** A REST-only action whose answer is streamed as NDJSON lines of its result (RestRoute.ndjson). */
function streamed<const N extends string, P extends z.ZodType, R extends z.ZodType>(
  a: Omit<Action<undefined>, 'name' | 'event' | 'payload' | 'result' | 'route'> & { name: N; payload: P; result: R; route: RestRoute & { ndjson: true } },
): RestOnlyAction<N, P, R> & { route: RestRoute & { ndjson: true } } {
  return a;
}

const TRIP_STEP_CODES = ['FORBIDDEN', 'NOT_FOUND', 'CALL_CANCELLED', 'INVALID_STATE'] as const satisfies readonly ErrorCode[];

export const ACTIONS = [
  evented({
    name: 'call.request', summary: 'Call a taxi (idempotent per requestId; one open call per passenger)',
    roles: ['passenger'], event: 'call:request', payload: CallRequest, result: Call,
    route: { method: 'post', path: '/api/calls', status: 201, also: { status: 200, when: 'the same requestId again: the same call' }, body: CallRequest },
    codes: ['FORBIDDEN', 'INVALID_STATE'],
  }),
  evented({
    name: 'call.cancel', summary: 'Cancel a call whose trip has not started (its passenger, or an admin)',
    roles: ['passenger', 'admin'], event: 'call:cancel', payload: CallCancel, result: Call,
    route: { method: 'post', path: '/api/calls/:id/cancel', status: 200, body: CancelBody },
    codes: ['FORBIDDEN', 'NOT_FOUND', 'INVALID_STATE'],
  }),
  evented({
    name: 'call.get', summary: 'One call: for its passenger, a driver it was offered to or assigned, or an admin',
    roles: ['passenger', 'driver', 'admin'], event: 'call:get', payload: CallRef, result: Call,
    route: { method: 'get', path: '/api/calls/:id', status: 200 },
    codes: ['FORBIDDEN', 'NOT_FOUND'],
  }),
  evented({
    name: 'call.active', summary: "The passenger's open (non-terminal) calls",
    roles: ['passenger'], event: 'call:active', payload: Empty, result: Calls,
    route: { method: 'get', path: '/api/calls/active', status: 200 },
    codes: ['FORBIDDEN'],
  }),
  restOnly({
    name: 'call.history', summary: 'Every status change of a call with its time, oldest first, from the ledger (who may read the call may read this)',
    roles: ['passenger', 'driver', 'admin'], payload: CallRef, result: CallHistory,
    route: { method: 'get', path: '/api/calls/:id/history', status: 200 },
    codes: ['FORBIDDEN', 'NOT_FOUND'],
  }),
  restOnly({
    name: 'call.replay', summary: "A call's replay from the ledger: the call, its status timeline and the assigned driver's thinned track during each trip (who may read the call may read this)",
    roles: ['passenger', 'driver', 'admin'], payload: CallRef, result: CallReplay,
    route: { method: 'get', path: '/api/calls/:id/replay', status: 200 },
    codes: ['FORBIDDEN', 'NOT_FOUND'],
  }),
  restOnly({
    name: 'call.closed', summary: 'Calls in a final status from the ledger, the latest to end first, a page at a time (admin)',
    roles: ['admin'], payload: ClosedQuery, result: ClosedCalls,
    route: { method: 'get', path: '/api/calls/closed', status: 200, query: ClosedQuery },
    codes: ['FORBIDDEN'],
  }),
  streamed({
    name: 'call.export', summary: 'Every call created in [from, to) from the ledger, oldest first, streamed as NDJSON; the last line is the end line (admin)',
    roles: ['admin'], payload: ExportQuery, result: ExportLine,
    route: { method: 'get', path: '/api/calls/export', status: 200, query: ExportQuery, ndjson: true },
    codes: ['FORBIDDEN'],
  }),
  restOnly({
    name: 'call.list', summary: 'Calls, newest first: a passenger its own, an admin every call',
    roles: ['passenger', 'admin'], payload: ListQuery, result: CallList,
    route: { method: 'get', path: '/api/calls', status: 200, query: ListQuery },
    codes: ['FORBIDDEN'],
  }),
  restOnly({
    name: 'ops.summary', summary: 'The deployment for operators: every node\'s heartbeat (gone when silent), their figures summed, online drivers and open calls counted (admin)',
    roles: ['admin'], payload: Empty, result: OpsSummary,
    route: { method: 'get', path: '/api/ops/summary', status: 200 },
    codes: ['FORBIDDEN'],
  }),
  evented({
    name: 'ops.join', summary: 'Join the operator feed: the snapshot of online drivers and open calls now, then ops:delta pushes (admin); over REST the snapshot only',
    roles: ['admin'], event: 'ops:join', payload: Empty, result: OpsSnapshot,
    route: { method: 'get', path: '/api/ops/snapshot', status: 200 },
    codes: ['FORBIDDEN'],
  }),
  evented({
    name: 'ops.leave', summary: 'Leave the operator feed: no more ops:delta on this socket (admin); over REST it leaves nothing (the feed is per socket)',
    roles: ['admin'], event: 'ops:leave', payload: Empty, result: Empty,
    route: { method: 'post', path: '/api/ops/leave', status: 200 },
    codes: ['FORBIDDEN'],
  }),
  evented({
    name: 'driver.online', summary: 'Go online (available) at a position',
    roles: ['driver'], event: 'driver:online', payload: DriverOnline, result: OnlineResult,
    route: { method: 'post', path: '/api/driver/online', status: 200, body: DriverOnline },
    codes: ['FORBIDDEN', 'DRIVER_BUSY'],
  }),
  evented({
    name: 'driver.offline', summary: 'Go offline: live offers end',
    roles: ['driver'], event: 'driver:offline', payload: Empty, result: OfflineResult,
    route: { method: 'post', path: '/api/driver/offline', status: 200 },
    codes: ['FORBIDDEN', 'DRIVER_BUSY'],
  }),
  evented({
    name: 'driver.location', summary: "Report the driver's position",
    roles: ['driver'], event: 'driver:location', payload: LatLng, result: Empty,
    route: { method: 'post', path: '/api/driver/location', status: 200, body: LatLng },
    codes: ['FORBIDDEN'],
  }),
  evented({
    name: 'offer.accept', summary: 'Accept an offer: exactly one driver wins a call',
    roles: ['driver'], event: 'offer:accept', payload: CallRef, result: Call,
    route: { method: 'post', path: '/api/calls/:id/accept', status: 200 },
    codes: ['FORBIDDEN', 'NOT_FOUND', 'NOT_OFFERED', 'CALL_CANCELLED', 'ALREADY_DISPATCHED', 'DRIVER_BUSY', 'OFFER_EXPIRED', 'INVALID_STATE'],
  }),
  evented({
    name: 'offer.reject', summary: 'Turn an offer down',
    roles: ['driver'], event: 'offer:reject', payload: CallRef, result: Empty,
    route: { method: 'post', path: '/api/calls/:id/reject', status: 200 },
    codes: ['FORBIDDEN', 'NOT_FOUND', 'NOT_OFFERED', 'CALL_CANCELLED', 'ALREADY_DISPATCHED', 'OFFER_EXPIRED'],
  }),
  evented({
    name: 'trip.arrived', summary: 'The assigned driver is at the pickup',
    roles: ['driver'], event: 'trip:arrived', payload: CallRef, result: Call, codes: TRIP_STEP_CODES,
    route: { method: 'post', path: '/api/calls/:id/arrived', status: 200 },
  }),
  evented({
    name: 'trip.start', summary: 'The rider is on board',
    roles: ['driver'], event: 'trip:start', payload: CallRef, result: Call, codes: TRIP_STEP_CODES,
    route: { method: 'post', path: '/api/calls/:id/start', status: 200 },
  }),
  evented({
    name: 'trip.complete', summary: 'The trip is over; the driver is free again',
    roles: ['driver'], event: 'trip:complete', payload: CallRef, result: Call, codes: TRIP_STEP_CODES,
    route: { method: 'post', path: '/api/calls/:id/complete', status: 200 },
  }),
  evented({
    name: 'trip.cancel', summary: 'The assigned driver backs out; the call is dispatched again without it',
    roles: ['driver'], event: 'trip:cancel', payload: TripCancel, result: Call, codes: TRIP_STEP_CODES,
    route: { method: 'post', path: '/api/calls/:id/back-out', status: 200, body: CancelBody },
  }),
  evented({
    name: 'call.redispatch', summary: 'Take a dispatched (or arrived) call from its driver and match it again without that driver (admin)',
    roles: ['admin'], event: 'call:redispatch', payload: CallRedispatch, result: Call,
    route: { method: 'post', path: '/api/calls/:id/redispatch', status: 200, body: RedispatchBody },
    codes: ['FORBIDDEN', 'NOT_FOUND', 'INVALID_STATE'],
  }),
  evented({
    name: 'driver.suspend', summary: 'Suspend a driver for durationMs or until lifted: its offers end, its trip may finish, driver:online is refused (admin)',
    roles: ['admin'], event: 'driver:suspend', payload: DriverSuspend, result: SuspendResult,
    route: { method: 'post', path: '/api/drivers/:id/suspend', idField: 'driverId', status: 200, body: SuspendBody },
    // NOT_FOUND: over REST only, a path with an empty id is no route.
    codes: ['FORBIDDEN', 'NOT_FOUND'],
  }),
  evented({
    name: 'driver.lift', summary: 'Lift a driver\'s suspension: it may go online again (admin)',
    roles: ['admin'], event: 'driver:lift', payload: DriverLift, result: LiftResult,
    route: { method: 'post', path: '/api/drivers/:id/lift', idField: 'driverId', status: 200, body: LiftBody },
    codes: ['FORBIDDEN', 'NOT_FOUND'],
  }),
  restOnly({
    name: 'admin.actions', summary: 'Operator levers from the ledger\'s admin_actions, newest first, optionally of one target (admin)',
    roles: ['admin'], payload: AdminActionsQuery, result: AdminActions,
    route: { method: 'get', path: '/api/admin/actions', status: 200, query: AdminActionsQuery },
    codes: ['FORBIDDEN'],
  }),
] as const satisfies readonly Action[];

/** Any action of the table, with its name (and event) as types. */
export type AnyAction = (typeof ACTIONS)[number];
export type ActionName = AnyAction['name'];
export type ActionNamed<N extends ActionName> = Extract<AnyAction, { name: N }>;
/** What an action takes, validated: an event action the event's payload, a REST-only one its schema's output. */
export type ActionPayload<N extends ActionName> =
  ActionNamed<N> extends { event: infer E extends ClientEvent } ? Payload<E> : z.output<ActionNamed<N>['payload']>;
/** What an action answers: an event action the event's ack data, a REST-only one its schema's output. */
export type ActionResult<N extends ActionName> =
  ActionNamed<N> extends { event: infer E extends ClientEvent } ? AckData<E>
    : ActionNamed<N> extends { route: { ndjson: true } } ? AsyncIterable<z.output<ActionNamed<N>['result']>>
    : z.output<ActionNamed<N>['result']>;

/** Every code an action can answer over a transport, in the order of ErrorCode. */
export function answerCodes(action: Action, transport: Transport): ErrorCode[] {
  const all = new Set<ErrorCode>([...action.codes, ...(transport === 'socket' ? SOCKET_CODES : REST_CODES)]);
  return [...all];
}

export function actionNamed<N extends ActionName>(name: N): ActionNamed<N> {
  return ACTIONS.find((a) => a.name === name) as ActionNamed<N>;
}

export function actionOfEvent(event: string): AnyAction | undefined {
  return ACTIONS.find((a) => a.event === event);
}

export function actionOfRoute(method: string, path: string): AnyAction | undefined {
  return ACTIONS.find((a) => a.route.method === method.toLowerCase() && a.route.path === path);
}

/** The payload field a route's `:id` carries: its idField, else PATH_ID_FIELD (`callId`). */
export function pathIdField(route: RestRoute): PathIdField {
  return route.idField ?? PATH_ID_FIELD;
}

/** True when the route's path has the `:id` parameter (the payload's pathIdField). */
export function routeHasId(route: RestRoute): boolean {
  return /\/:id(?:\/|$)/.test(route.path);
}

/**
 * The payload a REST request carries, to be validated with its action's payload schema as a
 * socket payload is: the query's fields (when the route reads one), the body's (when it takes
 * one; none is `{}`) and the path id as its field (`callId`, or the route's idField). A body that is not an object (a JSON array) is
 * the payload itself, so the schema refuses it as it would refuse it from a socket.
 */
export function restPayload(route: RestRoute, request: { id?: string | undefined; body?: unknown; query?: unknown }): unknown {
  const body: unknown = route.body ? (request.body ?? {}) : {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const query: unknown = route.query ? (request.query ?? {}) : {};
  // Spread, never Object.assign: an own `__proto__` key of a parsed body stays a plain key.
  return { ...(query as object), ...body, ...(routeHasId(route) ? { [pathIdField(route)]: request.id } : {}) };
}

/** The HTTP routes that are not actions: probes, metrics and the API documents. */
export interface HttpRoute {
  path: string;
  summary: string;
  /** Status → what the body is. */
  responses: Readonly<Record<number, string>>;
  type: 'json' | 'text' | 'html';
  /** The error codes it can answer, with the error body. */
  codes?: readonly ErrorCode[];
  /** It takes `Authorization: Bearer <METRICS_TOKEN>` when the server sets one. */
  metricsToken?: true;
}

export const HTTP_ROUTES: readonly HttpRoute[] = [
  { path: '/healthz', summary: 'Liveness: 200 while the process runs', type: 'json', responses: { 200: '{ "status": "ok" }' } },
  {
    path: '/readyz',
    summary: 'Readiness: Redis reachable, the worker running (dispatchers), not shutting down. `ledger` (where the process writes or reads one) '
      + 'is `ok` or `degraded` (not written or not answering: dispatch goes on, entries wait in Redis); it never makes the answer 503',
    type: 'json',
    responses: { 200: '{ "status": "ready", "ledger"?: "ok" | "degraded" }', 503: '{ "status": "unavailable", "ledger"?: "ok" | "degraded" }' },
  },
  {
    path: '/metrics', summary: 'Prometheus text; needs `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set', type: 'text',
    responses: { 200: 'Prometheus exposition format' }, codes: ['UNAUTHORIZED'], metricsToken: true,
  },
  { path: '/openapi.json', summary: 'This document', type: 'json', responses: { 200: 'OpenAPI 3.1' } },
  { path: '/asyncapi.json', summary: 'The Socket.IO API as AsyncAPI 3.0', type: 'json', responses: { 200: 'AsyncAPI 3.0' } },
  { path: '/docs', summary: 'Both documents rendered for a browser, served offline', type: 'html', responses: { 200: 'HTML page' } },
];

/** A push: what the server sends without being asked, and to whom. */
export interface Push {
  event: ServerEvent;
  summary: string;
  to: readonly UserRole[];
  payload: z.ZodType;
}

/** A push entry: the compiler holds its schema to the event map in events.ts. */
function push<E extends ServerEvent>(p: { event: E; summary: string; to: readonly UserRole[]; payload: z.ZodType<Parameters<ServerToClientEvents[E]>[0]> }): Push {
  return p;
}

export const PUSHES: readonly Push[] = [
  push({ event: 'hello', summary: 'First on every connection: the server\'s protocol version and who the token is for', to: ['passenger', 'driver', 'admin'], payload: Hello }),
  push({ event: 'call:status', summary: 'A change of one of the passenger\'s calls; once per open call after every (re)connect', to: ['passenger'], payload: Call }),
  push({ event: 'driver:location', summary: 'The assigned driver\'s position during the trip, at most once a second', to: ['passenger'], payload: DriverLocationPush }),
  push({ event: 'offer', summary: 'A call offered to this driver; every live offer again after a (re)connect', to: ['driver'], payload: Offer }),
  push({ event: 'offer:revoked', summary: 'An offer of this driver ended: taken by another, cancelled, expired, or busy (this driver won another call)', to: ['driver'], payload: OfferRevoked }),
  push({ event: 'trip:status', summary: 'A change of the driver\'s current trip; the current trip again after a (re)connect', to: ['driver'], payload: Call }),
  push({ event: 'driver:suspended', summary: 'An operator suspended this driver: why and until when (null: until lifted); driver:online is refused meanwhile', to: ['driver'], payload: DriverSuspendedPush }),
  push({ event: 'ops:delta', summary: 'The operator feed: drivers and calls changed since the last delta, drivers gone offline, the summary every ~5 s; at most every OPS_FEED_MS, never empty', to: ['admin'], payload: OpsDelta }),
  push({ event: 'driver:lifted', summary: 'An operator lifted this driver\'s suspension: it may go online again', to: ['driver'], payload: DriverLiftedPush }),
];
