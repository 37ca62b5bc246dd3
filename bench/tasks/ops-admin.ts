/**
 * Operator consoles (in a load worker): one admin socket per URL joins the operator feed
 * (`ops:join`, protocol 1.5.0) and consumes its `ops:delta` pushes until told to stop, counting what
 * arrived: deltas, the bytes of the frames (the engine's text frames as received, so what the
 * gateway sent over the wire, Socket.IO framing included), the drivers, `gone` ids, calls and
 * summaries they carried, and the gaps between deltas. 'joined' once every admin has its snapshot.
 */
import type { OpsDelta } from '../../protocol/index.js';
import { connectAs, openClient } from '../../clients/cli/sim/socket.js';
import type { DispatchClient } from '../../protocol/client.js';
import type { TaskContext } from '../lib/ipc.js';

export interface OpsAdminArgs {
  /** One admin per URL (its gateway). */
  urls: string[];
  secret: string;
  /** Admin ids are `<prefix>-<i>`. */
  prefix: string;
}

export interface OpsAdminStats {
  url: string;
  /** The snapshot `ops:join` answered: drivers and calls in it, its frame's bytes, ms to get it. */
  snapshot: { drivers: number; calls: number; truncatedDrivers: boolean; bytes: number; ms: number };
  /** From the snapshot's arrival until stopped. */
  seconds: number;
  deltas: number;
  bytes: number;
  drivers: number;
  gone: number;
  calls: number;
  summaries: number;
  /** Largest delta: drivers, and bytes of its frame. */
  maxDrivers: number;
  maxBytes: number;
  /** Gaps between consecutive deltas, ms (nearest rank). */
  gapMs: { p50: number | null; max: number | null };
}

const byteLength = (d: unknown): number => (typeof d === 'string' ? Buffer.byteLength(d) : d instanceof ArrayBuffer ? d.byteLength : ArrayBuffer.isView(d) ? d.byteLength : 0);

async function watch(url: string, id: string, secret: string, stopped: Promise<void>, joined: () => void): Promise<OpsAdminStats> {
  const client: DispatchClient = openClient(url, { id, role: 'admin' }, secret);
  let frameBytes = 0;
  let lastFrameBytes = 0;
  const stats: OpsAdminStats = {
    url, snapshot: { drivers: 0, calls: 0, truncatedDrivers: false, bytes: 0, ms: 0 }, seconds: 0,
    deltas: 0, bytes: 0, drivers: 0, gone: 0, calls: 0, summaries: 0, maxDrivers: 0, maxBytes: 0, gapMs: { p50: null, max: null },
  };
  const gaps: number[] = [];
  let lastAt = 0;
  try {
    await connectAs(client, id);
    // Every text frame the engine hands up, before Socket.IO decodes it.
    client.socket.io.engine.on('data', (d: unknown) => {
      lastFrameBytes = byteLength(d);
      frameBytes += lastFrameBytes;
    });
    client.on('ops:delta', (delta: OpsDelta) => {
      const now = performance.now();
      if (lastAt) gaps.push(now - lastAt);
      lastAt = now;
      stats.deltas++;
      stats.drivers += delta.drivers.length;
      stats.gone += delta.gone.length;
      stats.calls += delta.calls.length;
      if (delta.summary) stats.summaries++;
      stats.maxDrivers = Math.max(stats.maxDrivers, delta.drivers.length);
      stats.maxBytes = Math.max(stats.maxBytes, lastFrameBytes);
    });
    const t0 = performance.now();
    const snap = await client.request('ops:join', {}, { timeoutMs: 30_000 });
    if (!snap.ok) throw new Error(`${id}: ops:join failed: ${snap.error.code} ${snap.error.message}`);
    stats.snapshot = {
      drivers: snap.data.drivers.length, calls: snap.data.calls.length, truncatedDrivers: snap.data.truncated.drivers,
      bytes: lastFrameBytes, ms: Math.round(performance.now() - t0),
    };
    // Only the deltas from here on: the snapshot's frame is reported on its own.
    frameBytes = 0;
    stats.deltas = stats.drivers = stats.gone = stats.calls = stats.summaries = stats.maxDrivers = stats.maxBytes = 0;
    gaps.length = 0;
    lastAt = 0;
    const from = performance.now();
    joined();
    await stopped;
    stats.seconds = Math.round((performance.now() - from) / 100) / 10;
    stats.bytes = frameBytes;
    const sorted = gaps.sort((a, b) => a - b);
    const at = (p: number) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number) : null);
    stats.gapMs = { p50: at(50), max: at(100) };
    await client.request('ops:leave', {}, { timeoutMs: 5000 });
    return stats;
  } finally {
    client.close();
  }
}

export async function opsAdmin(a: OpsAdminArgs, ctx: TaskContext): Promise<OpsAdminStats[]> {
  const stopped = new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  let waiting = a.urls.length;
  const watchers = a.urls.map((url, i) => watch(url, `${a.prefix}-${i + 1}`, a.secret, stopped, () => {
    if (--waiting === 0) ctx.emit('joined');
  }));
  return Promise.all(watchers);
}
