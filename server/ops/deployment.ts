/**
 * The deployment as its heartbeats tell it (server/ops/heartbeat.ts writes them): every node in
 * `P:nodes` with its hash, and the figures of the nodes not gone summed. A node whose last
 * heartbeat is older than HEARTBEAT_TTL_BEATS × HEARTBEAT_MS (or whose hash has expired) is
 * `gone`; it stays listed as gone until DROP_AFTER_BEATS × HEARTBEAT_MS, then it is dropped from
 * `P:nodes`. Bounded reads only: one ZRANGE of at most MAX_NODES and one pipeline of HGETALLs.
 * Shared by both roles.
 */
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { HEARTBEAT_TTL_BEATS } from './heartbeat.js';

/** A gone node is listed this many heartbeat intervals after its last one, then dropped. */
export const DROP_AFTER_BEATS = 100;
/** Most nodes read. */
export const MAX_NODES = 1000;

export interface NodeReport {
  id: string;
  role: string;
  host: string;
  pid: number | null;
  startedMs: number | null;
  lastSeenMs: number;
  gone: boolean;
  /** Connected sockets by role. */
  sockets: Record<string, number>;
  /** Its other figures (heartbeat.ts: calls.<status>, offers, accepts.<result>, …). */
  figures: Record<string, number>;
}

export interface DeploymentReport {
  nodes: NodeReport[];
  /** The nodes not gone, their sockets and figures summed. */
  totals: { nodes: number; gone: number; byRole: Record<string, number>; sockets: Record<string, number>; figures: Record<string, number> };
}

const STATIC = new Set(['role', 'host', 'pid', 'started', 'seen']);

/** Role and host from a node id (`<role>:<host>:<pid>:<random>`), for a gone node whose hash expired. */
function fromId(id: string): { role: string; host: string; pid: number | null } {
  const parts = id.split(':');
  if (parts.length < 4) return { role: 'unknown', host: 'unknown', pid: null };
  const pid = Number(parts[parts.length - 2]);
  return { role: parts[0]!, host: parts.slice(1, -2).join(':'), pid: Number.isFinite(pid) ? pid : null };
}

export async function readDeployment(redis: Redis, keys: Keys, heartbeatMs: number, now = Date.now()): Promise<DeploymentReport> {
  const goneBefore = now - HEARTBEAT_TTL_BEATS * heartbeatMs;
  const flat = (await redis.multi()
    .zremrangebyscore(keys.nodes, '-inf', `(${now - DROP_AFTER_BEATS * heartbeatMs}`)
    .zrevrange(keys.nodes, 0, MAX_NODES - 1, 'WITHSCORES')
    .exec())?.[1]?.[1] as string[] | undefined ?? [];
  const ids: { id: string; seen: number }[] = [];
  for (let j = 0; j + 1 < flat.length; j += 2) ids.push({ id: flat[j]!, seen: Number(flat[j + 1]) });
  const p = redis.pipeline();
  for (const { id } of ids) p.hgetall(keys.node(id));
  const hashes = ids.length ? ((await p.exec()) ?? []).map(([err, v]) => (err ? {} : (v as Record<string, string>))) : [];
  const totals: DeploymentReport['totals'] = { nodes: 0, gone: 0, byRole: {}, sockets: {}, figures: {} };
  const nodes = ids.map(({ id, seen }, j): NodeReport => {
    const h = hashes[j] ?? {};
    const known = fromId(id);
    const lastSeenMs = h.seen ? Number(h.seen) : seen;
    const gone = !h.seen || lastSeenMs < goneBefore;
    const sockets: Record<string, number> = {};
    const figures: Record<string, number> = {};
    for (const [field, value] of Object.entries(h)) {
      if (STATIC.has(field)) continue;
      const n = Number(value);
      if (!Number.isFinite(n)) continue;
      if (field.startsWith('sockets.')) sockets[field.slice('sockets.'.length)] = n;
      else figures[field] = n;
    }
    const node: NodeReport = {
      id, role: h.role ?? known.role, host: h.host ?? known.host, pid: h.pid ? Number(h.pid) : known.pid,
      startedMs: h.started ? Number(h.started) : null, lastSeenMs, gone, sockets, figures,
    };
    if (gone) {
      totals.gone++;
    } else {
      totals.nodes++;
      totals.byRole[node.role] = (totals.byRole[node.role] ?? 0) + 1;
      for (const [k, v] of Object.entries(sockets)) totals.sockets[k] = (totals.sockets[k] ?? 0) + v;
      for (const [k, v] of Object.entries(figures)) totals.figures[k] = (totals.figures[k] ?? 0) + v;
    }
    return node;
  });
  return { nodes, totals };
}
