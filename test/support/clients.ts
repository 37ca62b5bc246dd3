/** Real socket.io-client users for tests: every received event is recorded and can be awaited. */
import { io, type Socket } from 'socket.io-client';
import type {
  ClientToServerEvents, Response, ServerToClientEvents, UserRole,
} from '../../protocol/index.js';
import { signToken } from '../../clients/cli/token.js';
import { SECRET } from './env.js';
import { until } from './wait.js';

export interface Seen {
  event: string;
  data: unknown;
}

export class TestClient {
  readonly seen: Seen[] = [];
  constructor(
    readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>,
    readonly id: string,
  ) {
    socket.onAny((event: string, data: unknown) => this.seen.push({ event, data }));
  }

  /** Emit with an ack and a deadline. */
  async emit<T = unknown>(event: string, payload?: unknown, ms = 10000): Promise<Response<T>> {
    const s = this.socket as unknown as Socket;
    return (payload === undefined ? s.timeout(ms).emitWithAck(event) : s.timeout(ms).emitWithAck(event, payload)) as Promise<Response<T>>;
  }

  /** The first recorded `event` whose payload satisfies `pred` (waiting for it if needed). */
  async next<T = unknown>(event: string, pred: (data: T) => boolean = () => true, ms = 10000): Promise<T> {
    const hit = await until(() => this.seen.find((s) => s.event === event && pred(s.data as T)), `${this.id} to receive ${event}`, ms, 10);
    return hit.data as T;
  }

  all<T = unknown>(event: string): T[] {
    return this.seen.filter((s) => s.event === event).map((s) => s.data as T);
  }

  close(): void {
    this.socket.close();
  }
}

export async function token(id: string, role: UserRole, ttl: string | number = '1h'): Promise<string> {
  return signToken(SECRET, id, role, ttl);
}

/** Connect a user to a gateway; resolves once connected. */
export async function connect(
  url: string, id: string, role: UserRole, opts: { reconnection?: boolean; onTransportOpen?: () => void } = {},
): Promise<TestClient> {
  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(url, {
    auth: { token: await token(id, role) },
    transports: ['websocket'],
    reconnection: opts.reconnection ?? false,
    reconnectionDelay: 100,
    reconnectionDelayMax: 1000,
    forceNew: true,
  });
  const client = new TestClient(socket, id);
  // Runs once the transport is open, before the Socket.IO handshake is done.
  if (opts.onTransportOpen) socket.io.once('open', opts.onTransportOpen);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${id} could not connect to ${url}`)), 10000);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect_error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  return client;
}

/** REST with a user's token. */
export async function rest(url: string, method: string, path: string, user?: { id: string; role: UserRole }, body?: unknown, rawBody?: string) {
  const headers: Record<string, string> = {};
  if (user) headers.authorization = `Bearer ${await token(user.id, user.role)}`;
  if (body !== undefined || rawBody !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url + path, { method, headers, body: rawBody ?? (body === undefined ? undefined : JSON.stringify(body)) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, body: json as Record<string, unknown> & { error?: { code: string; message: string } } };
}

export const PICKUP = { lat: 37.5547, lng: 126.9707 };
export const DROPOFF = { lat: 37.4979, lng: 127.0276 };

/** A point about 22 km × i north of `base`, so concurrent scenarios stay out of each other's radius. */
export function placeAt(i: number, base = PICKUP): { lat: number; lng: number } {
  return { lat: base.lat + i * 0.2, lng: base.lng };
}
