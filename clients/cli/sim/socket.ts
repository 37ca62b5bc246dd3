/**
 * Sockets of simulated users: typed socket.io-client connections (websocket, normal reconnection,
 * a fresh token on every handshake) and acked sends that always resolve, never throw.
 */
import { io, type Socket } from 'socket.io-client';
import type {
  Ack, ClientEvent, ClientToServerEvents, ErrorCode, ServerToClientEvents, UserRole,
} from '../../../protocol/index.js';
import { signToken } from '../token.js';

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** The payload and the ack data of a client event, from the protocol's event map. */
export type Payload<E extends ClientEvent> = Parameters<ClientToServerEvents[E]>[0];
export type AckData<E extends ClientEvent> = Parameters<ClientToServerEvents[E]>[1] extends Ack<infer T> ? T : never;

/**
 * Client-side failures next to the contract's codes: no ack in time, the connection dropped while
 * waiting for it, or no connection could be made at all.
 */
export type ClientErrorCode = ErrorCode | 'ACK_TIMEOUT' | 'DISCONNECTED' | 'CONNECT_FAILED';
export interface ClientError {
  code: ClientErrorCode;
  message: string;
}
/** An ack as the contract gives it, or a client-side failure in the same shape. */
export type Outcome<T> = { ok: true; data: T } | { ok: false; error: ClientError };

export const ACK_TIMEOUT_MS = 10_000;

export interface User {
  id: string;
  role: UserRole;
}

/** Open a socket for `user`; it signs a new token for each (re)connect, so long runs outlive any TTL. */
export function openSocket(url: string, user: User, secret: string): ClientSocket {
  return io(url, {
    auth: (cb) => {
      signToken(secret, user.id, user.role, '1h').then(
        (token) => cb({ token }),
        () => cb({ token: '' }),
      );
    },
    transports: ['websocket'],
    forceNew: true,
    reconnection: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
  });
}

/** Resolve on the first `connect`; reject when refused for good (bad token) or after `ms`. */
export function connected(socket: ClientSocket, what: string, ms = 30_000): Promise<void> {
  if (socket.connected) return Promise.resolve();
  return new Promise((resolve, reject) => {
    let lastError = '';
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onConnect = () => done();
    const onError = (err: Error) => {
      lastError = err.message;
      // A refused handshake (middleware error) is not retried by the client; network errors are.
      if (!socket.active) done(new Error(`${what}: connection refused: ${err.message}`));
    };
    const timer = setTimeout(() => done(new Error(`${what}: no connection after ${ms} ms${lastError ? ` (${lastError})` : ''}`)), ms);
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}

/** The ack was lost, not necessarily the event: the server may have acted on it. */
export function ackLost(error: ClientError): boolean {
  return error.code === 'ACK_TIMEOUT' || error.code === 'DISCONNECTED';
}

/** Emit `event` with an ack and a deadline; a missing ack becomes ACK_TIMEOUT (or DISCONNECTED). */
export async function send<E extends ClientEvent>(socket: ClientSocket, event: E, payload: Payload<E>, ms = ACK_TIMEOUT_MS): Promise<Outcome<AckData<E>>> {
  // The generic call cannot be checked against the event map; the signature above is.
  const untyped = socket as unknown as Socket;
  try {
    return (await untyped.timeout(ms).emitWithAck(event, payload)) as Outcome<AckData<E>>;
  } catch (err) {
    // socket.io-client rejects pending acks when the connection drops, and on its own timeout.
    if (err instanceof Error && /disconnected/.test(err.message)) {
      return { ok: false, error: { code: 'DISCONNECTED', message: `the connection dropped before the ack of ${event}` } };
    }
    return { ok: false, error: { code: 'ACK_TIMEOUT', message: `no ack for ${event} within ${ms} ms` } };
  }
}

/** Counts by error code, printed sorted. */
export class ErrorTally {
  private readonly counts = new Map<string, number>();

  add(code: string, n = 1): void {
    this.counts.set(code, (this.counts.get(code) ?? 0) + n);
  }

  merge(other: ErrorTally): void {
    for (const [code, n] of other.counts) this.add(code, n);
  }

  get total(): number {
    let t = 0;
    for (const n of this.counts.values()) t += n;
    return t;
  }

  toObject(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }

  toString(): string {
    const parts = Object.entries(this.toObject()).map(([code, n]) => `${code}=${n}`);
    return parts.length ? parts.join(' ') : 'none';
  }
}
