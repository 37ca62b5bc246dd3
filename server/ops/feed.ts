/**
 * The operator feed of one gateway (protocol 1.5.0): the admins joined on this gateway (`ops:join`,
 * the local Socket.IO room `ops`) get an `ops:delta` at most every OPS_FEED_MS, never an empty one.
 * One feed per process, not per socket, and nothing at all while nobody here watches. While someone
 * does, every tick:
 *
 * - refreshes `P:ops:watched` (TTL 3 × OPS_FEED_MS), so every process's tap (tap.ts) publishes
 *   changed calls on `P:ops:calls`, which this feed subscribes to (a connection of its own) and
 *   buffers, the latest state per call;
 * - reads the drivers changed since the last tick from the online drivers index (ZRANGEBYSCORE with
 *   an overlap of OVERLAP_MS for clocks of other hosts a little behind, deduped by their score):
 *   every step that changes what the feed shows of a driver (position, status, an offer made, away,
 *   suspension) moves its score in the same step;
 * - reads again the drivers it last sent as offered: an offer ends in many steps (answered,
 *   expired, taken, cancelled) that do not move the score, so the feed looks for itself;
 * - every GONE_EVERY_MS, reads the index's ids and names those it knew that left it (`gone`);
 * - every SUMMARY_EVERY_MS, adds the summary.
 *
 * Each gateway computes complete deltas by itself (all drivers from Redis, all calls from the
 * channel), so it emits to its own members only (`io.local`): an admin never gets a delta twice.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { rooms, type Call, type OpsDelta, type OpsDriver, type OpsSnapshot, type OpsSummary } from '../../protocol/index.js';
import type { IoServer } from '../gateway/socket.js';
import type { Commands, OnlineDriver } from '../redis/commands.js';
import type { Keys } from '../redis/keys.js';

/** Drivers updated this long before the last read are read again (their updatedAt dedupes them). */
export const OVERLAP_MS = 1000;
/** How often the whole index's ids are read to find the drivers that left it. */
export const GONE_EVERY_MS = 2000;
/** How often a delta carries the summary. */
export const SUMMARY_EVERY_MS = 5000;
/** Calls whose last sent seq a feed remembers. */
const SENT_MAX = 20_000;

export function toOpsDriver(d: OnlineDriver): OpsDriver {
  return {
    driverId: d.driverId, status: d.status, away: d.awaySince !== null, lat: d.lat, lng: d.lng, updatedAt: d.updatedAt,
    callId: d.callId, vehicleClass: d.vehicleClass, suspended: d.suspended, offered: d.offered,
  };
}

/** The snapshot (`ops:join`, GET /api/ops/snapshot): both indexes read, bounded by `max`. */
export async function readSnapshot(commands: Commands, summary: () => Promise<OpsSummary>, max: number): Promise<OpsSnapshot> {
  const at = Date.now();
  // One more than the bound: a list that fills it says it was cut.
  const [drivers, calls, s] = await Promise.all([commands.onlineDrivers({ max: max + 1 }), commands.openCalls({ max: max + 1 }), summary()]);
  return {
    at,
    drivers: drivers.slice(0, max).map(toOpsDriver),
    calls: calls.slice(0, max),
    summary: s,
    truncated: { drivers: drivers.length > max, calls: calls.length > max },
  };
}

export interface FeedDeps {
  io: IoServer;
  redis: Redis;
  /** A new connection for the subscription to `P:ops:calls` (one while someone here watches). */
  subscriber: () => Redis;
  keys: Keys;
  commands: Commands;
  summary: () => Promise<OpsSummary>;
  feedMs: number;
  max: number;
  log: Logger;
}

export interface OpsFeed {
  /**
   * A socket that joined (`ops:join` answered with `snapshot`): it joins the local room and gets the
   * deltas. The drivers the snapshot showed offered are read again until their offer is over: it
   * may end before this feed first reads, in a step that does not move their score.
   */
  join(socket: { join(room: string): unknown }, snapshot?: OpsSnapshot): void;
  leave(socket: { leave(room: string): unknown }): void;
  stop(): Promise<void>;
}

export function createOpsFeed(d: FeedDeps): OpsFeed {
  let timer: NodeJS.Timeout | undefined;
  let sub: Redis | undefined;
  let ticking = false;
  let starting = false;
  let stopped = false;
  let lastMs = 0;
  let goneAt = 0;
  let summaryAt = 0;
  /** Drivers sent (or known from the index) → the score (changedAt) last sent. */
  const known = new Map<string, number>();
  const calls = new Map<string, Call>();
  /** The seq last sent of each call (bounded: forgotten past SENT_MAX calls). */
  const sentSeq = new Map<string, number>();
  /** Drivers last sent with a live offer: read again every tick until they are sent without one. */
  const offered = new Set<string>();

  const members = () => d.io.of('/').adapter.rooms.get(rooms.ops)?.size ?? 0;

  const subscribe = async () => {
    const s = d.subscriber();
    sub = s;
    s.on('error', (err: unknown) => d.log.warn({ err }, 'ops feed: subscriber error'));
    s.on('message', (_channel: string, json: string) => {
      try {
        const call = JSON.parse(json) as Call;
        // Publishers are many (gateways, dispatchers): the highest seq wins, an older one never follows it.
        const seen = calls.get(call.id)?.seq ?? sentSeq.get(call.id) ?? -1;
        if (call.seq > seen) calls.set(call.id, call);
      } catch {
        // not a call: ignored
      }
    });
    await s.subscribe(d.keys.opsCalls);
  };

  const start = async () => {
    const now = Date.now();
    // The snapshot was read just before: what changed meanwhile comes again in the first delta.
    lastMs = now - OVERLAP_MS;
    goneAt = now;
    summaryAt = now;
    known.clear();
    calls.clear();
    sentSeq.clear();
    offered.clear();
    await d.redis.set(d.keys.opsWatched, '1', 'PX', 3 * d.feedMs);
    await subscribe();
    for (const id of await d.commands.onlineDriverIds({ max: d.max })) known.set(id, 0);
  };

  const halt = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
    sub?.disconnect();
    sub = undefined;
    known.clear();
    calls.clear();
    offered.clear();
  };

  const tick = async () => {
    if (ticking || stopped) return;
    ticking = true;
    try {
      if (members() === 0) return halt();
      const now = Date.now();
      await d.redis.set(d.keys.opsWatched, '1', 'PX', 3 * d.feedMs);
      // A driver whose score is the one last sent is not read again (the overlap re-reads only ids and scores).
      const changed = await d.commands.driversChangedSince({ sinceMs: lastMs, max: d.max, skip: (id, at) => known.get(id) === at && !offered.has(id) });
      // The next read starts OVERLAP_MS back: a step of a host whose clock is a little behind is not missed.
      lastMs = now - OVERLAP_MS;
      const seen = new Set(changed.map((c) => c.driverId));
      const again = await d.commands.onlineDriversById([...offered].filter((id) => !seen.has(id)));
      const drivers: OpsDriver[] = [];
      for (const c of [...changed, ...again]) {
        const wasOffered = offered.has(c.driverId);
        if (known.get(c.driverId) === c.changedAt && wasOffered === c.offered) continue;
        if (!known.has(c.driverId) && known.size >= d.max) continue;
        known.set(c.driverId, c.changedAt);
        if (c.offered) offered.add(c.driverId);
        else offered.delete(c.driverId);
        drivers.push(toOpsDriver(c));
      }
      const gone: string[] = [];
      if (now - goneAt >= GONE_EVERY_MS) {
        goneAt = now;
        const ids = new Set(await d.commands.onlineDriverIds({ max: d.max }));
        // Past max drivers, a known one may only have fallen out of the most recent: asked by id.
        const missing = [...known.keys()].filter((id) => !ids.has(id));
        const held = await d.commands.inOnlineIndex(missing);
        missing.forEach((id, j) => {
          if (held[j]) return;
          known.delete(id);
          offered.delete(id);
          gone.push(id);
        });
      }
      const delta: OpsDelta = { at: now, drivers, gone, calls: [...calls.values()] };
      calls.clear();
      if (sentSeq.size > SENT_MAX) sentSeq.clear();
      for (const c of delta.calls) sentSeq.set(c.id, c.seq);
      if (now - summaryAt >= SUMMARY_EVERY_MS) {
        summaryAt = now;
        delta.summary = await d.summary();
      }
      if (delta.drivers.length + delta.gone.length + delta.calls.length === 0 && !delta.summary) return;
      d.io.local.to(rooms.ops).emit('ops:delta', delta);
    } catch (err) {
      d.log.warn({ err }, 'ops feed: a tick failed');
    } finally {
      ticking = false;
    }
  };

  return {
    join(socket, snapshot) {
      void socket.join(rooms.ops);
      // Seeded after start() began: its first, synchronous steps clear the sets.
      const seed = () => snapshot?.drivers.forEach((x) => x.offered && offered.add(x.driverId));
      if (timer || starting || stopped) return seed();
      starting = true;
      const started = start();
      seed();
      started
        .catch((err: unknown) => d.log.warn({ err }, 'ops feed: start failed'))
        .finally(() => {
          starting = false;
          // Stopped while starting: its subscriber goes too.
          if (stopped) halt();
          else timer = setInterval(() => void tick(), d.feedMs);
        });
    },
    leave(socket) {
      void socket.leave(rooms.ops);
    },
    stop() {
      stopped = true;
      halt();
      return Promise.resolve();
    },
  };
}
