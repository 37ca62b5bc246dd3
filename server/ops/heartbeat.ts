/**
 * Every process (gateway, dispatcher, all) writes its heartbeat to Redis every HEARTBEAT_MS: one
 * hash `P:node:<nodeId>` (TTL 3 × HEARTBEAT_MS) written whole in one MULTI with the ZADD of
 * `P:nodes` (nodeId → now). Its figures are read from the process's own prom-client metrics
 * (server/metrics.ts), never counted a second time. server/ops/deployment.ts reads them back.
 *
 * Hash fields: role, host, pid, started (epoch ms), seen (epoch ms of this heartbeat), and the
 * figures, numbers under flat dotted names:
 *   sockets.<role>     connected sockets by role (dispatch_sockets)
 *   calls.<status>     calls moved into each status by this process (dispatch_call_transitions_total)
 *   offers             offers sent (dispatch_offers_total)
 *   accepts.<result>   accepts by result (dispatch_accepts_total)
 *   revoked.<reason>   offers revoked by reason (dispatch_offers_revoked_total)
 *   rounds, roundCalls rounds run and the calls in them (dispatch_match_round_calls count and sum)
 *   roundSeconds       seconds spent in rounds (dispatch_match_round_seconds sum)
 *   toDispatch.le.<s>  accepts that dispatched a call at most <s> seconds after its creation,
 *                      cumulative as Prometheus buckets (dispatch_request_to_dispatched_seconds; <s> from
 *                      DISPATCH_BUCKETS, and `+Inf`); toDispatch.count and toDispatch.sum beside them
 *   queue.<state>      dispatch queue jobs by state (dispatchers: dispatch_queue_jobs)
 *   ledgerLag          ledger entries not yet written (dispatchers: dispatch_ledger_lag)
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { Keys } from '../redis/keys.js';

/** A heartbeat's hash lives this many intervals; a node not seen for as long is `gone`. */
export const HEARTBEAT_TTL_BEATS = 3;

/** A process's id: `<role>:<host>:<pid>:<random>` (the random part tells apart the apps of one process, as in tests). */
export function makeNodeId(role: string, host = hostname(), pid = process.pid): string {
  return `${role}:${host}:${pid}:${randomUUID().slice(0, 8)}`;
}

type Values = { value: number; labels: Record<string, string | number | undefined>; metricName?: string }[];

/** The figures of one process, read from its metrics (flat dotted names, see the header). */
export async function figuresOf(metrics: Metrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const add = (name: string, v: number) => {
    if (Number.isFinite(v)) out[name] = (out[name] ?? 0) + v;
  };
  const byLabel = async (metric: { get(): Promise<{ values: Values }> } | undefined, prefix: string, label: string) => {
    if (!metric) return;
    for (const v of (await metric.get()).values) add(`${prefix}.${String(v.labels[label] ?? '')}`, v.value);
  };
  const single = async (metric: { get(): Promise<{ values: Values }> } | undefined, name: string) => {
    if (!metric) return;
    for (const v of (await metric.get()).values) add(name, v.value);
  };
  const histogram = async (metric: { get(): Promise<{ values: Values }> }, count: string | undefined, sum: string) => {
    for (const v of (await metric.get()).values) {
      if (count && v.metricName?.endsWith('_count')) add(count, v.value);
      if (v.metricName?.endsWith('_sum')) add(sum, v.value);
    }
  };
  await byLabel(metrics.sockets, 'sockets', 'role');
  await byLabel(metrics.transitions, 'calls', 'status');
  await single(metrics.offers, 'offers');
  await byLabel(metrics.accepts, 'accepts', 'result');
  await byLabel(metrics.offersRevoked, 'revoked', 'reason');
  await histogram(metrics.roundCalls, 'rounds', 'roundCalls');
  await histogram(metrics.roundSeconds, undefined, 'roundSeconds');
  for (const v of (await metrics.requestToDispatched.get()).values) {
    if (v.metricName?.endsWith('_bucket')) add(`toDispatch.le.${String(v.labels.le)}`, v.value);
    else if (v.metricName?.endsWith('_count')) add('toDispatch.count', v.value);
    else if (v.metricName?.endsWith('_sum')) add('toDispatch.sum', v.value);
  }
  const registered = (name: string) => metrics.registry.getSingleMetric(name) as { get(): Promise<{ values: Values }> } | undefined;
  await byLabel(registered('dispatch_queue_jobs'), 'queue', 'state');
  const lag = registered('dispatch_ledger_lag');
  if (lag) {
    for (const v of (await lag.get()).values) if (v.value >= 0) add('ledgerLag', v.value);
  }
  return out;
}

export interface Heartbeat {
  nodeId: string;
  /** Write one heartbeat now (also what the timer does). */
  beat(): Promise<void>;
  /** No more heartbeats: the node's last one ages, and it is reported `gone`. */
  stop(): void;
}

export function startHeartbeat(o: {
  redis: Redis; keys: Keys; metrics: Metrics; role: string; intervalMs: number; log: Logger; nodeId?: string;
}): Heartbeat {
  const nodeId = o.nodeId ?? makeNodeId(o.role);
  const started = Date.now();
  const host = hostname();
  let failing = false;
  const beat = async () => {
    const figures = await figuresOf(o.metrics);
    const now = Date.now();
    const key = o.keys.node(nodeId);
    const fields: Record<string, string | number> = { role: o.role, host, pid: process.pid, started, seen: now, ...figures };
    await o.redis.multi().del(key).hset(key, fields).pexpire(key, HEARTBEAT_TTL_BEATS * o.intervalMs).zadd(o.keys.nodes, now, nodeId).exec();
  };
  const tick = () => {
    beat().then(
      () => (failing = false),
      (err: unknown) => {
        // Once per outage, not every beat.
        if (!failing) o.log.warn({ err }, 'heartbeat: could not write to Redis');
        failing = true;
      },
    );
  };
  tick();
  const timer = setInterval(tick, o.intervalMs);
  timer.unref();
  return { nodeId, beat, stop: () => clearInterval(timer) };
}
