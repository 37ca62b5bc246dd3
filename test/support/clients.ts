/**
 * Real users for tests, on the protocol's DispatchClient: every received event is recorded and can
 * be awaited. `client.send` is the typed way to talk to the server; `emit` goes through the raw
 * socket so tests can also send invalid payloads and unknown events.
 */
import { expect } from 'chai';
import type { Socket } from 'socket.io-client';
import { DispatchClient, type ClientOptions, type ClientSocket } from '../../server/devkit/client.js';
import type { Response, UserRole } from '../../protocol/index.js';
import { signToken } from '../../clients/cli/token.js';
import { SECRET } from './env.js';
import { until } from './wait.js';

export interface Seen {
  event: string;
  data: unknown;
}

export class TestClient {
  readonly seen: Seen[] = [];
  readonly socket: ClientSocket;
  constructor(
    readonly client: DispatchClient,
    readonly id: string,
  ) {
    this.socket = client.socket;
    this.socket.onAny((event: string, data: unknown) => this.seen.push({ event, data }));
  }

  /** Emit anything (unchecked) with an ack and a deadline; resolves with the raw envelope. */
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
    this.client.close();
  }
}

export async function token(id: string, role: UserRole, ttl: string | number = '1h'): Promise<string> {
  return signToken(SECRET, id, role, ttl);
}

export interface ConnectOptions {
  /** socket.io-client's reconnection (off by default). */
  reconnection?: boolean;
  /** Runs once the transport is open, before the Socket.IO handshake is done. */
  onTransportOpen?: () => void;
  /** More options for socket.io-client's `io()` (e.g. `transports`). */
  socket?: ClientOptions['socket'];
}

/** Connect a user to a gateway (websocket, a token from `token()`); resolves once connected. */
export async function connect(url: string, id: string, role: UserRole, opts: ConnectOptions = {}): Promise<TestClient> {
  const client = new DispatchClient(url, {
    token: await token(id, role),
    socket: {
      transports: ['websocket'],
      reconnection: opts.reconnection ?? false,
      reconnectionDelay: 100,
      reconnectionDelayMax: 1000,
      ...opts.socket,
    },
  });
  const test = new TestClient(client, id);
  if (opts.onTransportOpen) client.socket.io.once('open', opts.onTransportOpen);
  try {
    await client.ready(10000);
  } catch (err) {
    client.close();
    throw new Error(`${id} could not connect to ${url}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return test;
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

/** A REST answer that must be the contract's error body with this status and code: its message. */
export function restError(res: Awaited<ReturnType<typeof rest>>, status: number, code: string): string {
  expect(res.status, JSON.stringify(res.body)).to.equal(status);
  expect(res.body).to.have.all.keys('error');
  expect(res.body.error).to.have.all.keys('code', 'message');
  expect(res.body.error!.code).to.equal(code);
  return res.body.error!.message;
}

export const PICKUP = { lat: 37.5547, lng: 126.9707 };
export const DROPOFF = { lat: 37.4979, lng: 127.0276 };

/** A point about 22 km × i north of `base`, so concurrent scenarios stay out of each other's radius. */
export function placeAt(i: number, base = PICKUP): { lat: number; lng: number } {
  return { lat: base.lat + i * 0.2, lng: base.lng };
}
