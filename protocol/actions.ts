/**
 * The table of actions: for every thing a client can ask, its Socket.IO event and REST route, who
 * may ask, the payload and result schemas, and every error code it can answer. The OpenAPI and
 * AsyncAPI generators read it, the fuzz test holds the server to it, and docs/protocol.md
 * describes it. An action's own codes are listed with it; the codes every action can answer over a
 * transport (validation, limits, outages) are listed once per transport below.
 */
import type { z } from 'zod';
import type { ErrorCode } from './errors.js';
import type {
  Ack, ClientEvent, ClientToServerEvents, ServerEvent, ServerToClientEvents,
} from './events.js';
import {
  Call, CallCancel, CallList, CallRef, CallRequest, Calls, CancelBody, DriverLocationPush, Empty, Hello, LatLng, ListQuery, Offer,
  OfferRevoked, OfflineResult, OnlineResult, TripCancel,
} from './schemas.js';
import type { UserRole } from './status.js';

/** Answers any socket event can get, whatever it does. */
export const SOCKET_CODES = ['VALIDATION_FAILED', 'RATE_LIMITED', 'UNAVAILABLE', 'INTERNAL'] as const satisfies readonly ErrorCode[];
/** Answers any REST route under /api can get: no or bad token, origin refused, bad body, limits, outages. */
export const REST_CODES = [
  'UNAUTHORIZED', 'FORBIDDEN', 'VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE', 'RATE_LIMITED', 'UNAVAILABLE', 'INTERNAL',
] as const satisfies readonly ErrorCode[];

export type Transport = 'socket' | 'rest';

export interface RestRoute {
  method: 'get' | 'post';
  /** Express style: `/api/calls/:id`. */
  path: string;
  /** The status of a success. */
  status: 200 | 201;
  /** A second success status and when it is answered (a repeated request). */
  also?: { status: 200; when: string };
  /** The JSON body, when the route takes one. */
  body?: z.ZodType;
  /** The query string, when the route reads one. */
  query?: z.ZodType;
}

export interface Action {
  /** Stable name, `noun.verb`: the OpenAPI operationId and the AsyncAPI operation name. */
  name: string;
  summary: string;
  /** Roles that may ask; every other role is answered FORBIDDEN. */
  roles: readonly UserRole[];
  event?: ClientEvent;
  route?: RestRoute;
  /** The socket payload (REST: the path id and the body together carry the same fields). */
  payload: z.ZodType;
  /** The ack's `data`, and the REST response body. */
  result: z.ZodType;
  /** The codes this action answers by itself, besides the transport's. */
  codes: readonly ErrorCode[];
}

type Payload<E extends ClientEvent> = Parameters<ClientToServerEvents[E]>[0];
type AckData<E extends ClientEvent> = Parameters<ClientToServerEvents[E]>[1] extends Ack<infer T> ? T : never;

/** An action with an event: the compiler holds its schemas to the event map in events.ts. */
function evented<E extends ClientEvent>(
  a: Omit<Action, 'event' | 'payload' | 'result'> & { event: E; payload: z.ZodType<Payload<E>>; result: z.ZodType<AckData<E>> },
): Action {
  return a;
}

const TRIP_STEP_CODES = ['FORBIDDEN', 'NOT_FOUND', 'CALL_CANCELLED', 'INVALID_STATE'] as const satisfies readonly ErrorCode[];

export const ACTIONS: readonly Action[] = [
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
    codes: ['FORBIDDEN'],
  }),
  {
    name: 'call.list', summary: 'Calls, newest first: a passenger its own, an admin every call',
    roles: ['passenger', 'admin'], payload: ListQuery, result: CallList,
    route: { method: 'get', path: '/api/calls', status: 200, query: ListQuery },
    codes: ['FORBIDDEN'],
  },
  evented({
    name: 'driver.online', summary: 'Go online (available) at a position',
    roles: ['driver'], event: 'driver:online', payload: LatLng, result: OnlineResult,
    codes: ['FORBIDDEN', 'DRIVER_BUSY'],
  }),
  evented({
    name: 'driver.offline', summary: 'Go offline: live offers end',
    roles: ['driver'], event: 'driver:offline', payload: Empty, result: OfflineResult,
    codes: ['FORBIDDEN', 'DRIVER_BUSY'],
  }),
  evented({
    name: 'driver.location', summary: "Report the driver's position",
    roles: ['driver'], event: 'driver:location', payload: LatLng, result: Empty,
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
    codes: ['FORBIDDEN', 'NOT_FOUND', 'NOT_OFFERED', 'CALL_CANCELLED', 'ALREADY_DISPATCHED', 'OFFER_EXPIRED'],
  }),
  evented({
    name: 'trip.arrived', summary: 'The assigned driver is at the pickup',
    roles: ['driver'], event: 'trip:arrived', payload: CallRef, result: Call, codes: TRIP_STEP_CODES,
  }),
  evented({
    name: 'trip.start', summary: 'The rider is on board',
    roles: ['driver'], event: 'trip:start', payload: CallRef, result: Call, codes: TRIP_STEP_CODES,
  }),
  evented({
    name: 'trip.complete', summary: 'The trip is over; the driver is free again',
    roles: ['driver'], event: 'trip:complete', payload: CallRef, result: Call, codes: TRIP_STEP_CODES,
  }),
  evented({
    name: 'trip.cancel', summary: 'The assigned driver backs out; the call is dispatched again without it',
    roles: ['driver'], event: 'trip:cancel', payload: TripCancel, result: Call, codes: TRIP_STEP_CODES,
  }),
];

/** Every code an action can answer over a transport, in the order of ErrorCode. */
export function answerCodes(action: Action, transport: Transport): ErrorCode[] {
  const all = new Set<ErrorCode>([...action.codes, ...(transport === 'socket' ? SOCKET_CODES : REST_CODES)]);
  return [...all];
}

export function actionOfEvent(event: string): Action | undefined {
  return ACTIONS.find((a) => a.event === event);
}

export function actionOfRoute(method: string, path: string): Action | undefined {
  return ACTIONS.find((a) => a.route?.method === method.toLowerCase() && a.route.path === path);
}

/** The HTTP routes that are not actions: probes, metrics and the API documents. */
export interface HttpRoute {
  path: string;
  summary: string;
  /** Status → what the body is. */
  responses: Readonly<Record<number, string>>;
  type: 'json' | 'text' | 'html';
}

export const HTTP_ROUTES: readonly HttpRoute[] = [
  { path: '/healthz', summary: 'Liveness: 200 while the process runs', type: 'json', responses: { 200: '{ "status": "ok" }' } },
  {
    path: '/readyz', summary: 'Readiness: Redis reachable, the worker running (dispatchers), not shutting down', type: 'json',
    responses: { 200: '{ "status": "ready" }', 503: '{ "status": "unavailable" }' },
  },
  {
    path: '/metrics', summary: 'Prometheus text; needs `Authorization: Bearer <METRICS_TOKEN>` when METRICS_TOKEN is set', type: 'text',
    responses: { 200: 'Prometheus exposition format', 401: 'UNAUTHORIZED error body' },
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
];
