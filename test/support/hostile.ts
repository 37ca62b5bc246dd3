/**
 * Helpers for the abuse and fuzz tests: raw HTTP and TCP without client-side normalisation, the
 * contract shape of every answer, and "a normal ride still works" as one call.
 */
import { request } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { expect } from 'chai';
import { ErrorCode, HTTP_STATUS, type Call, type Offer } from '../../protocol/index.js';
import { connect, DROPOFF, type TestClient } from './clients.js';

/** What an error message or body must never contain: stack frames, source paths. */
export const LEAK = /\n\s*at |\bat [\w.<>]+ \(|\/work\/|node_modules|[\w-]+\.(ts|js|mjs):\d+/;

export const CODES: readonly string[] = Object.values(ErrorCode);

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

/**
 * One HTTP request with exactly these headers (Origin included) and this raw path: node:http does
 * not resolve `..` or drop headers the way fetch may.
 */
export function rawHttp(
  url: string,
  method: string,
  path: string,
  o: { headers?: Record<string, string>; body?: string | Buffer; ms?: number } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const req = request({ host: hostname, port, method, path, headers: o.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer to ${method} ${path.slice(0, 80)}`)), o.ms ?? 10000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(o.body);
  });
}

export interface RawConnection {
  /** Everything the server sent so far. */
  received(): string;
  closed: boolean;
  /** Resolves once the server (or the network) closed the connection, with what it sent. */
  whenClosed: Promise<string>;
  write(data: string | Buffer): void;
  destroy(): void;
}

/** A raw TCP connection to the server at `url`; `first` is written once connected. */
export function rawTcp(url: string, first?: string | Buffer): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  const socket = tcpConnect(Number(port), hostname);
  const chunks: Buffer[] = [];
  socket.on('data', (b: Buffer) => chunks.push(b));
  socket.on('error', () => undefined); // a reset is one way of being closed
  const conn: RawConnection = {
    received: () => Buffer.concat(chunks).toString('latin1'),
    closed: false,
    whenClosed: new Promise((resolve) => {
      socket.on('close', () => {
        conn.closed = true;
        resolve(conn.received());
      });
    }),
    write: (data) => {
      if (!socket.destroyed && socket.writable) socket.write(data);
    },
    destroy: () => socket.destroy(),
  };
  return new Promise((resolve, reject) => {
    socket.once('connect', () => {
      if (first !== undefined) socket.write(first);
      resolve(conn);
    });
    socket.once('error', reject);
  });
}

/** Resolves with `p`, or fails naming `what` after `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Null when `error` is a contract `{ code, message }` (no leak, bounded); else what is wrong. */
export function wireErrorProblem(error: unknown): string | null {
  if (typeof error !== 'object' || error === null || Array.isArray(error)) return `error is not an object: ${JSON.stringify(error)}`;
  const keys = Object.keys(error).sort();
  if (keys.join(',') !== 'code,message') return `error keys are ${keys.join(',')}`;
  const { code, message } = error as { code: unknown; message: unknown };
  if (typeof code !== 'string' || !CODES.includes(code)) return `unknown code ${JSON.stringify(code)}`;
  if (typeof message !== 'string' || message.length === 0) return `message is not a non-empty string: ${JSON.stringify(message)}`;
  if (message.length > 1000) return `message of ${message.length} chars`;
  if (LEAK.test(message)) return `message leaks internals: ${message}`;
  return null;
}

/** Null when `res` is a contract ack, `{ ok: true, data }` or `{ ok: false, error }`; else what is wrong. */
export function ackProblem(res: unknown): string | null {
  if (typeof res !== 'object' || res === null) return `ack is not an object: ${JSON.stringify(res)}`;
  const keys = Object.keys(res).sort().join(',');
  const r = res as { ok?: unknown; error?: unknown };
  if (r.ok === true) return keys === 'data,ok' ? null : `ok ack with keys ${keys}`;
  if (r.ok === false) return keys === 'error,ok' ? wireErrorProblem(r.error) : `error ack with keys ${keys}`;
  return `ack without a boolean ok: ${JSON.stringify(res).slice(0, 200)}`;
}

/** Null when a REST answer is a success with JSON or a contract error with the matching status. */
/** True for an NDJSON body: one JSON value per line (a streamed answer). */
function ndjson(text: string): boolean {
  const lines = text.split('\n').filter(Boolean);
  try {
    return lines.length > 0 && lines.every((l) => JSON.parse(l) !== undefined);
  } catch {
    return false;
  }
}

export function restProblem(res: RawResponse): string | null {
  if (LEAK.test(res.text)) return `body leaks internals: ${res.text.slice(0, 300)}`;
  if (res.status === 200 || res.status === 201) return res.json === undefined && !ndjson(res.text) ? `${res.status} without a JSON body` : null;
  const body = res.json as { error?: unknown } | undefined;
  if (typeof body !== 'object' || body === null || Object.keys(body).join(',') !== 'error') return `${res.status} body is not { error }: ${res.text.slice(0, 200)}`;
  const problem = wireErrorProblem(body.error);
  if (problem) return problem;
  const code = (body.error as { code: ErrorCode }).code;
  return HTTP_STATUS[code] === res.status ? null : `status ${res.status} with code ${code} (contract: ${HTTP_STATUS[code]})`;
}

/**
 * The control case after an attack: a fresh driver goes online at `at`, a fresh rider requests a
 * call there, the driver gets the offer, accepts, and the rider is told `dispatched`.
 */
export async function normalRide(riderUrl: string, driverUrl: string, tag: string, at: { lat: number; lng: number }): Promise<Call> {
  const clients: TestClient[] = [];
  try {
    const driver = await connect(driverUrl, `driver-${tag}`, 'driver');
    clients.push(driver);
    const rider = await connect(riderUrl, `rider-${tag}`, 'passenger');
    clients.push(rider);
    expect(await driver.emit('driver:online', { lat: at.lat + 0.001, lng: at.lng })).to.deep.equal({ ok: true, data: { status: 'available' } });
    const req = await rider.emit<Call>('call:request', { requestId: `ride-${tag}`, pickup: at, dropoff: DROPOFF });
    if (!req.ok) throw new Error(`call:request: ${JSON.stringify(req.error)}`);
    const offer = await driver.next<Offer>('offer', (o) => o.callId === req.data.id);
    expect(offer).to.deep.include({ pickup: at, dropoff: DROPOFF });
    const won = await driver.emit<Call>('offer:accept', { callId: req.data.id });
    if (!won.ok) throw new Error(`offer:accept: ${JSON.stringify(won.error)}`);
    expect(won.data).to.include({ status: 'dispatched', driverId: `driver-${tag}` });
    expect(await rider.next<Call>('call:status', (c) => c.id === req.data.id && c.status === 'dispatched')).to.deep.equal(won.data);
    return won.data;
  } finally {
    for (const c of clients) c.close();
  }
}
