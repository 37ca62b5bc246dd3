/**
 * Raw Socket.IO baselines, client side (in a load worker): emit-with-ack round trips to a plain
 * server, a room emit from one plain server to a client of another through the Redis adapter, and
 * idle sockets that emit every few seconds (the raw twin of drivers reporting their position).
 * The measuring clients are pooled per server between tasks, until `rawRelease`.
 */
import { io, type Socket } from 'socket.io-client';
import { pool } from '../../clients/cli/async.js';
import type { TaskContext } from '../lib/ipc.js';
import { drive, type Mode, type OpSummary } from '../lib/pace.js';

const PAYLOAD = { callId: '7c9e6679-7425-40de-944b-e07fc1f90ae7', lat: 37.5663, lng: 126.9779 };

export interface Connected {
  sockets: Socket[];
  failed: number;
  connectS: number;
}

/** Open `count` websocket clients spread round-robin over `urls`, `concurrency` at a time. */
export async function connectMany(urls: string[], count: number, concurrency = 100, signal?: AbortSignal): Promise<Connected> {
  const started = performance.now();
  const sockets: Socket[] = [];
  let failed = 0;
  await pool(Array.from({ length: count }, (_, i) => i), concurrency, async (i) => {
    if (signal?.aborted) return;
    const s = io(urls[i % urls.length] as string, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 20_000 });
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('connect', () => resolve());
        s.once('connect_error', reject);
      });
      sockets.push(s);
    } catch {
      failed++;
      s.close();
    }
  });
  return { sockets, failed, connectS: round2((performance.now() - started) / 1000) };
}

export function closeAll(sockets: Socket[]): void {
  for (const s of sockets) s.close();
}

/** Connected clients kept between tasks of one scenario (connecting thousands takes seconds). */
const pools = new Map<string, Socket[]>();
const joined = new WeakSet<Socket>();
const waiting = new Map<number, (at: number) => void>();
let nextFanId = 0;

async function poolOf(url: string, count: number, signal: AbortSignal): Promise<{ sockets: Socket[]; failed: number; connectS: number }> {
  const have = (pools.get(url) ?? []).filter((s) => s.connected);
  if (have.length >= count) return { sockets: have.slice(0, count), failed: 0, connectS: 0 };
  const more = await connectMany([url], count - have.length, 100, signal);
  const all = [...have, ...more.sockets];
  pools.set(url, all);
  return { sockets: all, failed: more.failed, connectS: more.connectS };
}

/** Close every pooled client (end of a scenario). */
export function rawRelease(): Promise<{ closed: number }> {
  let closed = 0;
  for (const sockets of pools.values()) {
    closed += sockets.length;
    closeAll(sockets);
  }
  pools.clear();
  return Promise.resolve({ closed });
}

export interface RawAckArgs {
  /** Clients are spread evenly over these servers. */
  urls: string[];
  clients: number;
  mode: Mode;
}

export interface RawResult extends OpSummary {
  clients: number;
  connectFailed: number;
  connectS: number;
}

/** Emit-with-ack round trip to a plain Socket.IO server (the adapter plays no part in an ack). */
export async function rawAck(a: RawAckArgs, ctx: TaskContext): Promise<RawResult> {
  const per = Math.ceil(a.clients / a.urls.length);
  const parts = await Promise.all(a.urls.map((u) => poolOf(u, per, ctx.signal)));
  const sockets = parts.flatMap((p) => p.sockets).slice(0, a.clients);
  if (sockets.length === 0) throw new Error('no raw client could connect');
  const n = sockets.length;
  const summary = await drive(a.mode, async (slot) => {
    const s = sockets[slot % n] as Socket;
    const t0 = performance.now();
    await s.timeout(10_000).emitWithAck('echo', PAYLOAD);
    return performance.now() - t0;
  }, ctx.signal);
  return { ...summary, clients: n, connectFailed: parts.reduce((x, p) => x + p.failed, 0), connectS: Math.max(...parts.map((p) => p.connectS)) };
}

export interface RawRoomArgs {
  /** Senders connect here … */
  fromUrl: string;
  /** … receivers here, each in its own room: every emit crosses nodes through the Redis adapter. */
  toUrl: string;
  clients: number;
  mode: Mode;
}

/** A room emit from one node to a client on another: client → node A → Redis pub/sub → node B → client. */
export async function rawRoom(a: RawRoomArgs, ctx: TaskContext): Promise<RawResult> {
  const receiversN = Math.max(1, Math.floor(a.clients / 2));
  const sendersN = Math.max(1, a.clients - receiversN);
  const [tx, rx] = await Promise.all([poolOf(a.fromUrl, sendersN, ctx.signal), poolOf(a.toUrl, receiversN, ctx.signal)]);
  if (rx.sockets.length === 0 || tx.sockets.length === 0) throw new Error('no raw client could connect');
  await Promise.all(rx.sockets.map(async (s, i) => {
    if (joined.has(s)) return;
    await s.timeout(10_000).emitWithAck('join', `r${i}`);
    s.on('fan', (id: number) => waiting.get(id)?.(performance.now()));
    joined.add(s);
  }));
  const summary = await drive(a.mode, (slot) => {
    const id = nextFanId++;
    const room = `r${slot % rx.sockets.length}`;
    const sender = tx.sockets[slot % tx.sockets.length] as Socket;
    return new Promise<number>((resolve, reject) => {
      const t0 = performance.now();
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error('room emit never arrived'));
      }, 10_000);
      waiting.set(id, (at) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(at - t0);
      });
      sender.emit('fanout', { room, t: id });
    });
  }, ctx.signal);
  return { ...summary, clients: rx.sockets.length + tx.sockets.length, connectFailed: rx.failed + tx.failed, connectS: Math.max(rx.connectS, tx.connectS) };
}

export interface RawIdleArgs {
  urls: string[];
  count: number;
  /** Each socket emits `echo` with an ack this often (±25 %). */
  everyMs: number;
}

export interface IdleResult {
  connected: number;
  connectFailed: number;
  connectS: number;
  acks: number;
  ackFailures: number;
  /** Sockets that dropped while held. */
  dropped: number;
}

/** Hold `count` sockets (each emitting every `everyMs`) until told to stop; 'ready' once connected. */
export async function rawIdle(a: RawIdleArgs, ctx: TaskContext): Promise<IdleResult> {
  const c = await connectMany(a.urls, a.count, 200, ctx.signal);
  let acks = 0;
  let ackFailures = 0;
  let dropped = 0;
  const timers: NodeJS.Timeout[] = [];
  c.sockets.forEach((s, i) => {
    s.on('disconnect', () => void dropped++);
    const tick = () => {
      s.timeout(10_000).emitWithAck('echo', PAYLOAD).then(() => void acks++, () => void ackFailures++);
      timers[i] = setTimeout(tick, a.everyMs * (0.75 + Math.random() * 0.5));
    };
    timers[i] = setTimeout(tick, Math.random() * a.everyMs);
  });
  ctx.emit('ready', { connected: c.sockets.length, connectFailed: c.failed, connectS: c.connectS });
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  for (const t of timers) clearTimeout(t);
  const connected = c.sockets.length;
  const droppedWhileHeld = dropped;
  closeAll(c.sockets);
  return { connected, connectFailed: c.failed, connectS: c.connectS, acks, ackFailures, dropped: droppedWhileHeld };
}

const round2 = (n: number) => Math.round(n * 100) / 100;
