/**
 * A small typed client on socket.io-client, for apps, the CLI and the tests: connect with a token,
 * `send(event, payload)` resolving with the ack's typed `data` or throwing the coded error, and
 * typed `on` for pushes. `request` is the same send that never throws (it returns the envelope).
 *
 *   const rider = await connectClient('https://dispatch.example', { token });
 *   rider.on('call:status', (call) => render(call));
 *   const call = await rider.send('call:request', { requestId, pickup, dropoff });
 */
import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import type { ErrorCode } from './errors.js';
import type {
  AckData, ClientEvent, ClientToServerEvents, Payload, ServerEvent, ServerToClientEvents,
} from './events.js';
import type { Hello } from './schemas.js';
import { PROTOCOL_VERSION } from './version.js';

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** The payload and the ack data of a client event, from the protocol's event map. */
export type { AckData, Payload } from './events.js';
/** What a push of `E` carries. */
export type PushData<E extends ServerEvent> = Parameters<ServerToClientEvents[E]>[0];

/**
 * The contract's codes, and three of the client's own: no ack in time, the connection dropped
 * while waiting (the server may or may not have acted: retry with the same ids), no connection.
 */
export type ClientErrorCode = ErrorCode | 'ACK_TIMEOUT' | 'DISCONNECTED' | 'CONNECT_FAILED';

export interface ClientError {
  code: ClientErrorCode;
  message: string;
}
export type Outcome<T> = { ok: true; data: T } | { ok: false; error: ClientError };

/** A failed send or connect, with its code (and for a refused handshake the server's reason). */
export class DispatchError extends Error {
  constructor(
    readonly code: ClientErrorCode,
    message: string,
    /** A refused handshake: the server's own explanation (connect_error `data.message`). */
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'DispatchError';
  }
}

/** The ack was lost, not necessarily the event: the server may have acted on it. */
export function ackLost(code: ClientErrorCode): boolean {
  return code === 'ACK_TIMEOUT' || code === 'DISCONNECTED';
}

export interface ClientOptions {
  /** The JWT, or a function giving a fresh one for every (re)connect. */
  token: string | (() => string | Promise<string>);
  /** The protocol version announced in the handshake (`auth.protocol`); false sends none. */
  protocol?: string | false;
  /** How long a send waits for its ack (default 10 s). */
  ackTimeoutMs?: number;
  /** Passed to socket.io-client's `io()` (transports, reconnection, …). */
  socket?: Partial<ManagerOptions & SocketOptions>;
}

export const DEFAULT_ACK_TIMEOUT_MS = 10_000;

export class DispatchClient {
  readonly socket: ClientSocket;
  /** The server's last `hello`: its protocol version and who it took the token for. */
  hello: Hello | undefined;
  private readonly ackTimeoutMs: number;

  constructor(url: string, o: ClientOptions) {
    this.ackTimeoutMs = o.ackTimeoutMs ?? DEFAULT_ACK_TIMEOUT_MS;
    const protocol = o.protocol === false ? undefined : (o.protocol ?? PROTOCOL_VERSION);
    const { token } = o;
    const auth = typeof token === 'string'
      ? { token, ...(protocol ? { protocol } : {}) }
      : (cb: (data: object) => void) => {
        Promise.resolve()
          .then(token)
          .then(
            (t) => cb({ token: t, ...(protocol ? { protocol } : {}) }),
            () => cb({ token: '' }),
          );
      };
    this.socket = io(url, { transports: ['websocket'], forceNew: true, ...o.socket, auth });
    this.socket.on('hello', (hello) => {
      this.hello = hello;
    });
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /**
   * Resolve once connected; reject with CONNECT_FAILED when the server refuses the handshake
   * (the error's message is the server's code, e.g. UNAUTHORIZED) or after `ms`.
   */
  ready(ms = 30_000): Promise<this> {
    if (this.socket.connected) return Promise.resolve(this);
    return new Promise((resolve, reject) => {
      let lastError = '';
      const done = (err?: Error) => {
        clearTimeout(timer);
        this.socket.off('connect', onConnect);
        this.socket.off('connect_error', onError);
        if (err) reject(err);
        else resolve(this);
      };
      const onConnect = () => done();
      const onError = (err: Error & { data?: { message?: unknown } }) => {
        lastError = err.message;
        const detail = typeof err.data?.message === 'string' ? err.data.message : undefined;
        // A refused handshake is not retried by socket.io-client; network errors are.
        if (!this.socket.active) done(new DispatchError('CONNECT_FAILED', err.message, detail));
      };
      const timer = setTimeout(() => done(new DispatchError('CONNECT_FAILED', `no connection after ${ms} ms${lastError ? ` (${lastError})` : ''}`)), ms);
      this.socket.on('connect', onConnect);
      this.socket.on('connect_error', onError);
    });
  }

  /** Emit `event` and wait for its ack: the envelope, or a client-side failure in the same shape. */
  async request<E extends ClientEvent>(event: E, payload: Payload<E>, o: { timeoutMs?: number } = {}): Promise<Outcome<AckData<E>>> {
    const ms = o.timeoutMs ?? this.ackTimeoutMs;
    // The generic emit cannot be checked against the event map; this method's signature is.
    const untyped = this.socket as unknown as Socket;
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

  /** Emit `event` and resolve with the ack's data; a failure throws a DispatchError with its code. */
  async send<E extends ClientEvent>(event: E, payload: Payload<E>, o: { timeoutMs?: number } = {}): Promise<AckData<E>> {
    const res = await this.request(event, payload, o);
    if (!res.ok) throw new DispatchError(res.error.code, res.error.message);
    return res.data;
  }

  /** Listen to a push; returns the function that stops listening. */
  on<E extends ServerEvent>(event: E, listener: (data: PushData<E>) => void): () => void {
    const l = listener as never;
    this.socket.on(event, l);
    return () => {
      this.socket.off(event, l);
    };
  }

  /** The next push of `event` that satisfies `pred`, or a rejection after `ms`. */
  next<E extends ServerEvent>(event: E, pred: (data: PushData<E>) => boolean = () => true, ms = 30_000): Promise<PushData<E>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no ${event} within ${ms} ms`));
      }, ms);
      const off = this.on(event, (data) => {
        if (!pred(data)) return;
        clearTimeout(timer);
        off();
        resolve(data);
      });
    });
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * Open a client and wait until it is connected (see DispatchClient.ready). `setup` runs before the
 * connection opens: listeners added there see every push, the resync right after connect included.
 */
export async function connectClient(
  url: string, o: ClientOptions & { connectTimeoutMs?: number; setup?: (client: DispatchClient) => void },
): Promise<DispatchClient> {
  const client = new DispatchClient(url, o);
  o.setup?.(client);
  try {
    return await client.ready(o.connectTimeoutMs);
  } catch (err) {
    client.close();
    throw err;
  }
}
