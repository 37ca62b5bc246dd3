/**
 * The Socket.IO side of a gateway: the Redis adapter, the handshake (origin, per-address connection
 * cap, JWT), the adapter from events to the action pipeline (ack required, unknown events refused,
 * everything else is `runAction`: pipeline.ts), the resync sent on every (re)connect, and driver
 * presence.
 */
import type { Server as HttpServer } from 'node:http';
import { createAdapter } from '@socket.io/redis-adapter';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Server, type Socket } from 'socket.io';
import {
  ACTIONS, DEFAULT_MESSAGE, PROTOCOL_VERSION, protocolProblem, rooms, type AnyAction, type ClientToServerEvents, type ErrorCode, type Response,
  type OpsSnapshot, type ServerToClientEvents, type User,
} from '../../protocol/index.js';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import type { Keys } from '../redis/keys.js';
import type { Services } from './actions.js';
import type { Verify } from './auth.js';
import type { Limits } from './limits.js';
import { originAllowed } from './origins.js';
import type { RunAction } from './pipeline.js';

export interface SocketData {
  user: User;
  /** Token expiry, epoch seconds. */
  exp: number;
}
export type IoServer = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
export type IoSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;

export interface SocketDeps {
  config: Config;
  keys: Keys;
  pub: Redis;
  sub: Redis;
  verify: Verify;
  /** For the resync and driver presence; every event goes through `runAction`. */
  services: Services;
  runAction: RunAction;
  /** The per-address cap on connection attempts. */
  limits: Limits;
  metrics: Metrics;
  log: Logger;
  /** Makes the operator feed (server/ops/feed.ts) of this server, before any connection. */
  feed?: (io: IoServer) => SocketEffects;
}

/** What a socket's own action does to that socket besides its answer: the operator feed's room. */
export interface SocketEffects {
  /** `snapshot` is the ops:join's answer. */
  join(socket: IoSocket, snapshot: OpsSnapshot): void;
  leave(socket: IoSocket): void;
}

/** The action of each client event. */
const EVENT_ACTIONS: ReadonlyMap<string, AnyAction> = new Map(ACTIONS.flatMap((a): [string, AnyAction][] => (a.event ? [[a.event, a]] : [])));

/** setTimeout's ceiling; later expiries are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function createSocketServer(http: HttpServer, d: SocketDeps): IoServer {
  const io: IoServer = new Server(http, {
    serveClient: false,
    maxHttpBufferSize: d.config.MAX_SOCKET_FRAME_BYTES,
    pingInterval: d.config.SOCKET_PING_INTERVAL_MS,
    pingTimeout: d.config.SOCKET_PING_TIMEOUT_MS,
    connectTimeout: d.config.AUTH_TIMEOUT_MS,
    cors: { origin: d.config.ALLOWED_ORIGINS.length ? d.config.ALLOWED_ORIGINS : true },
    // CORS does not cover websockets: check the Origin of every handshake ourselves, and cap
    // connection attempts per address.
    allowRequest: (req, cb) => {
      if (!originAllowed(d.config.ALLOWED_ORIGINS, req.headers.origin)) return cb('origin not allowed', false);
      // Only new sessions count: every long-polling request of an open session carries its sid.
      if (req.url?.includes('sid=')) return cb(null, true);
      d.limits.take('connect', req.socket.remoteAddress ?? 'unknown').then(
        () => cb(null, true),
        () => cb('too many connection attempts', false),
      );
    },
    adapter: createAdapter(d.pub, d.sub, { key: d.keys.adapterChannel }),
  });

  const effects = d.feed?.(io);

  io.use((socket, next) => {
    const auth = socket.handshake.auth as Record<string, unknown> | undefined;
    const unsupported = protocolProblem(auth?.protocol);
    if (unsupported) {
      next(refusal('VALIDATION_FAILED', unsupported));
      return;
    }
    d.verify(auth?.token).then(
      (user) => {
        socket.data.user = { id: user.id, role: user.role };
        socket.data.exp = user.exp;
        next();
      },
      () => next(refusal('UNAUTHORIZED', DEFAULT_MESSAGE.UNAUTHORIZED)),
    );
  });

  io.on('connection', (socket) => {
    const { user } = socket.data;
    // Each role has rooms of its own: an admin whose id is also a rider's never gets that rider's pushes.
    const room = rooms[user.role](user.id);
    void socket.join(room);
    d.metrics.sockets.inc({ role: user.role });
    const expiry = endAtExpiry(socket);
    socket.on('disconnect', () => {
      clearTimeout(expiry.timer);
      d.metrics.sockets.dec({ role: user.role });
    });
    bindEvents(socket, d, effects);
    // First on every connection, before the resync: the server's protocol version.
    socket.emit('hello', { protocol: PROTOCOL_VERSION, userId: user.id, role: user.role });
    resync(socket, d).catch((err: unknown) => d.log.warn({ err, userId: user.id }, 'resync failed'));
    if (user.role !== 'driver') return;
    d.services.drivers.connected(user.id).catch((err: unknown) => d.log.warn({ err, userId: user.id }, 'presence update failed'));
    socket.on('disconnect', () => {
      // The grace period starts when the driver's last socket, on any node, is gone.
      d.services.drivers
        .disconnected(user.id, async () => (await io.in(room).fetchSockets()).length > 0)
        .catch((err: unknown) => d.log.warn({ err, userId: user.id }, 'presence update failed'));
    });
  });
  return io;
}

/** A refused handshake: `connect_error` with the code as its message and `{ code, message }` as its data. */
function refusal(code: ErrorCode, message: string): Error & { data: { code: ErrorCode; message: string } } {
  return Object.assign(new Error(code), { data: { code, message } });
}

/** A token that expires while connected ends that socket. */
function endAtExpiry(socket: IoSocket): { timer: NodeJS.Timeout } {
  const state = { timer: undefined as unknown as NodeJS.Timeout };
  const arm = () => {
    const left = socket.data.exp * 1000 - Date.now();
    state.timer = setTimeout(() => (left > MAX_TIMER_MS ? arm() : socket.disconnect(true)), Math.min(Math.max(left, 0), MAX_TIMER_MS));
    state.timer.unref();
  };
  arm();
  return state;
}

/** The socket adapter: an event with an ack is its action, run by the pipeline; the outcome is the ack. */
function bindEvents(socket: IoSocket, d: SocketDeps, effects: SocketEffects | undefined): void {
  const user = socket.data.user;
  socket.onAny((event: string, ...args: unknown[]) => {
    const ack = args[args.length - 1];
    if (typeof ack !== 'function') return; // an event without an ack is ignored, never a crash
    const reply = ack as (res: Response<unknown>) => void;
    const action = EVENT_ACTIONS.get(event);
    if (!action) {
      reply({ ok: false, error: { code: 'VALIDATION_FAILED', message: `unknown event ${JSON.stringify(String(event).slice(0, 64))}` } });
      return;
    }
    // The payload is the one argument before the ack; an event with only the ack has none ({}).
    void d.runAction(user, action, args.length > 1 ? args[0] : undefined, 'socket').then((outcome) => {
      // Effects on this socket follow a success, before its answer: deltas come after the snapshot.
      if (outcome.ok && action.name === 'ops.join') effects?.join(socket, outcome.data as OpsSnapshot);
      if (outcome.ok && action.name === 'ops.leave') effects?.leave(socket);
      reply(outcome.ok ? { ok: true, data: outcome.data } : { ok: false, error: outcome.error });
    });
  });
}

/** Right after every (re)connect: riders get each active call, drivers their live offers and trip. */
async function resync(socket: IoSocket, d: SocketDeps): Promise<void> {
  const { user } = socket.data;
  if (user.role === 'passenger') {
    for (const call of await d.services.calls.active(user)) socket.emit('call:status', call);
  } else if (user.role === 'driver') {
    const { trip, offers, suspended } = await d.services.drivers.resync(user.id);
    if (suspended) socket.emit('driver:suspended', suspended);
    for (const offer of offers) socket.emit('offer', offer);
    if (trip) socket.emit('trip:status', trip);
  }
}
