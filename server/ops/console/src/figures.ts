/**
 * The KPI series of the console, computed from the summaries received (pure: no DOM, no Preact;
 * imports types only, so node tests can import it).
 *
 * Figure names read (server/ops/heartbeat.ts writes them per node, deployment.ts sums them):
 *   calls.<status>            counter: calls moved into each status
 *   offers                    counter: offers sent
 *   accepts.won               counter: accepts that won
 *   revoked.expired           counter: offers revoked because they expired
 *   rounds, roundCalls        counters: match rounds run, calls in them
 *   roundSeconds              counter: seconds spent in rounds
 *   queue.<state>             gauge: dispatch queue jobs by state (depth: waiting, delayed, prioritized, waiting-children)
 *   ledgerLag                 gauge: ledger entries not yet written
 *   toDispatch.le.<seconds>   cumulative histogram buckets of request → dispatched (also read as
 *                             dispatchLatency.le.<seconds>); `+Inf`/`Inf` is the last bucket
 *   toDispatch.count          the histogram's count (optional: the +Inf bucket or largest bucket is used otherwise)
 *
 * Counters are differenced per node (matched by node id) so a node that restarts or disappears
 * never gives a negative rate: a counter that went down counts as 0 for that node; a node that
 * appeared after the previous sample counts from 0 when it started after that sample, otherwise
 * it is skipped for that interval. Without nodes the totals are differenced, clamped at 0.
 */
import type { OpsSummary } from '../../../../protocol/index.js';

/**
 * One summary as it arrived: the same shape as contract.ts's SummarySample, declared here so this
 * file imports nothing of the browser side (contract.ts imports Preact and htm) and the node tests
 * can import it; the console's tsconfig checks the two stay the same (panels-check.ts).
 */
export interface SummarySample {
  at: number;
  summary: OpsSummary;
}

/** One point of a series: the end of an interval (or the sample's time for gauges); null = unknown. */
export interface Point {
  at: number;
  value: number | null;
}

/** The KPI names the series are kept under (the tiles' `data-kpi`). */
export const KPI_NAMES = [
  'calls.requested', 'calls.completed', 'calls.cancelled', 'calls.unfulfilled',
  'acceptance', 'unfulfilledRate', 'expiryRate', 'dispatch.p50', 'dispatch.p99',
  'drivers.online', 'drivers.available', 'drivers.busy', 'drivers.away',
  'queue', 'ledgerLag', 'round.size', 'round.seconds', 'calls.open',
] as const;
export type KpiName = (typeof KPI_NAMES)[number];

export type KpiSeries = Record<KpiName, Point[]>;

/** Statuses whose rate per minute is charted. */
export const RATE_STATUSES = ['requested', 'completed', 'cancelled', 'unfulfilled'] as const;

/** Queue states that count as waiting to be worked (the depth). */
export const QUEUE_DEPTH_STATES = ['waiting', 'delayed', 'prioritized', 'waiting-children'] as const;

/** Prefixes of the request → dispatched histogram buckets, the first found is used. */
export const DISPATCH_BUCKET_PREFIXES = ['toDispatch', 'dispatchLatency'] as const;

/**
 * How much a figure grew between two summaries: summed per node over the nodes in both (a decrease
 * counts 0), plus nodes new in `cur` that started after `prevAt` (counted from 0). Without nodes in
 * either summary, the totals' difference clamped at 0. Null when neither summary has the figure.
 */
export function deltaOf(prev: OpsSummary, cur: OpsSummary, name: string, prevAt: number): number | null {
  const has = (s: OpsSummary) => name in s.totals.figures || s.nodes.some((n) => name in n.figures);
  if (!has(prev) && !has(cur)) return null;
  if (prev.nodes.length === 0 || cur.nodes.length === 0) {
    const d = (cur.totals.figures[name] ?? 0) - (prev.totals.figures[name] ?? 0);
    return d > 0 ? d : 0;
  }
  const before = new Map(prev.nodes.map((n) => [n.id, n]));
  let sum = 0;
  for (const node of cur.nodes) {
    const value = node.figures[name];
    if (value === undefined) continue;
    const old = before.get(node.id);
    if (old) {
      const was = old.figures[name];
      if (was === undefined) {
        if (!old.gone && node.startedMs !== null && node.startedMs >= prevAt) sum += value;
        continue;
      }
      if (value > was) sum += value - was;
    } else if (node.startedMs !== null && node.startedMs >= prevAt) {
      sum += Math.max(0, value);
    }
  }
  return sum;
}

/** a / b, or null when b is 0 or either is unknown. */
export function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || b <= 0) return null;
  return a / b;
}

/** The bucket bounds (seconds; Infinity for +Inf) and names of a histogram prefix found in a summary. */
export function bucketsOf(s: OpsSummary, prefix: string): { le: number; name: string }[] {
  const names = new Set<string>();
  const lead = `${prefix}.le.`;
  for (const k of Object.keys(s.totals.figures)) if (k.startsWith(lead)) names.add(k);
  for (const n of s.nodes) for (const k of Object.keys(n.figures)) if (k.startsWith(lead)) names.add(k);
  const out: { le: number; name: string }[] = [];
  for (const name of names) {
    const raw = name.slice(lead.length);
    const le = raw === '+Inf' || raw === 'Inf' || raw === 'inf' ? Infinity : Number(raw);
    if (!Number.isNaN(le)) out.push({ le, name });
  }
  return out.sort((a, b) => a.le - b.le);
}

/**
 * A quantile (0..1) of a histogram given as cumulative bucket counts (`le` ascending, as for
 * Prometheus), by linear interpolation inside the bucket that holds the rank (from 0 for the first
 * bucket). `total` is the count of observations (defaults to the largest cumulative count). A rank
 * in the +Inf bucket answers the largest finite bound. Null when there are no observations.
 */
export function quantileOf(buckets: readonly { le: number; count: number }[], q: number, total?: number): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  // Cumulative counts must not go down (deltas of separate nodes could): make them monotone.
  let run = 0;
  const cum = sorted.map((b) => ({ le: b.le, count: (run = Math.max(run, b.count)) }));
  const n = total ?? run;
  if (!(n > 0) || cum.length === 0) return null;
  const rank = Math.min(Math.max(q, 0), 1) * n;
  let lowerLe = 0;
  let lowerCount = 0;
  for (const b of cum) {
    if (b.count >= rank && b.count > lowerCount) {
      if (b.le === Infinity) return lowerLe;
      return lowerLe + ((b.le - lowerLe) * (rank - lowerCount)) / (b.count - lowerCount);
    }
    if (b.le !== Infinity) lowerLe = b.le;
    lowerCount = b.count;
  }
  // The rank is above every bucket (count larger than the buckets hold): the largest finite bound.
  return lowerLe;
}

/** p-quantile (seconds) of request → dispatched over an interval, from the bucket deltas; null when absent. */
export function dispatchQuantile(prev: SummarySample, cur: SummarySample, q: number): number | null {
  for (const prefix of DISPATCH_BUCKET_PREFIXES) {
    const buckets = bucketsOf(cur.summary, prefix);
    if (buckets.length === 0) continue;
    const deltas = buckets.map((b) => ({ le: b.le, count: deltaOf(prev.summary, cur.summary, b.name, prev.at) ?? 0 }));
    const count = deltaOf(prev.summary, cur.summary, `${prefix}.count`, prev.at);
    return quantileOf(deltas, q, count !== null && count > 0 ? count : undefined);
  }
  return null;
}

/** The queue depth of a summary: the sum of the depth states present; null when none is. */
export function queueDepth(s: OpsSummary): number | null {
  let sum: number | null = null;
  for (const state of QUEUE_DEPTH_STATES) {
    const v = s.totals.figures[`queue.${state}`];
    if (v !== undefined) sum = (sum ?? 0) + v;
  }
  return sum;
}

/** KPIs of one interval between two consecutive samples (rates per minute, ratios 0..1, seconds). Null when the interval is empty. */
export function intervalKpis(prev: SummarySample, cur: SummarySample): Partial<Record<KpiName, number | null>> | null {
  const minutes = (cur.at - prev.at) / 60_000;
  if (!(minutes > 0)) return null;
  const d = (name: string) => deltaOf(prev.summary, cur.summary, name, prev.at);
  const perMinute = (name: string) => {
    const v = d(name);
    return v === null ? null : v / minutes;
  };
  const offers = d('offers');
  const rounds = d('rounds');
  return {
    'calls.requested': perMinute('calls.requested'),
    'calls.completed': perMinute('calls.completed'),
    'calls.cancelled': perMinute('calls.cancelled'),
    'calls.unfulfilled': perMinute('calls.unfulfilled'),
    acceptance: ratio(d('accepts.won'), offers),
    unfulfilledRate: ratio(d('calls.unfulfilled'), d('calls.requested')),
    expiryRate: ratio(d('revoked.expired'), offers),
    'dispatch.p50': dispatchQuantile(prev, cur, 0.5),
    'dispatch.p99': dispatchQuantile(prev, cur, 0.99),
    'round.size': ratio(d('roundCalls'), rounds),
    'round.seconds': ratio(d('roundSeconds'), rounds),
  };
}

/** KPIs read from one sample alone (gauges). */
export function gaugeKpis(s: OpsSummary): Partial<Record<KpiName, number | null>> {
  return {
    'drivers.online': s.drivers.online,
    'drivers.available': s.drivers.available,
    'drivers.busy': s.drivers.busy,
    'drivers.away': s.drivers.away,
    'calls.open': s.calls.open,
    queue: queueDepth(s),
    ledgerLag: s.totals.figures.ledgerLag ?? null,
  };
}

const INTERVAL_KPIS: readonly KpiName[] = [
  'calls.requested', 'calls.completed', 'calls.cancelled', 'calls.unfulfilled', 'acceptance', 'unfulfilledRate',
  'expiryRate', 'dispatch.p50', 'dispatch.p99', 'round.size', 'round.seconds',
];
const GAUGE_KPIS: readonly KpiName[] = ['drivers.online', 'drivers.available', 'drivers.busy', 'drivers.away', 'calls.open', 'queue', 'ledgerLag'];

/**
 * Every KPI series from the samples (oldest first): interval KPIs get one point per pair of
 * consecutive samples with time between them (at the later one's time), gauges one point per sample.
 */
export function kpiSeries(samples: readonly SummarySample[]): KpiSeries {
  const out = Object.fromEntries(KPI_NAMES.map((k) => [k, [] as Point[]])) as KpiSeries;
  for (let j = 0; j < samples.length; j++) {
    const cur = samples[j]!;
    const gauges = gaugeKpis(cur.summary);
    for (const k of GAUGE_KPIS) out[k].push({ at: cur.at, value: gauges[k] ?? null });
    if (j === 0) continue;
    const kpis = intervalKpis(samples[j - 1]!, cur);
    if (!kpis) continue;
    for (const k of INTERVAL_KPIS) out[k].push({ at: cur.at, value: kpis[k] ?? null });
  }
  return out;
}

/** The last known value of a series (skipping nulls), or null. */
export function lastValue(points: readonly Point[]): number | null {
  for (let j = points.length - 1; j >= 0; j--) {
    const v = points[j]!.value;
    if (v !== null) return v;
  }
  return null;
}

/**
 * Offers expired / offers sent over the last `intervals` intervals of the samples (summing the
 * deltas, so a quiet interval does not dilute); null when no offer was sent or there are fewer than two samples.
 */
export function recentExpiryRate(samples: readonly SummarySample[], intervals = 3): number | null {
  let expired = 0;
  let offers = 0;
  for (let j = Math.max(1, samples.length - intervals); j < samples.length; j++) {
    const prev = samples[j - 1]!;
    const cur = samples[j]!;
    if (!(cur.at > prev.at)) continue;
    expired += deltaOf(prev.summary, cur.summary, 'revoked.expired', prev.at) ?? 0;
    offers += deltaOf(prev.summary, cur.summary, 'offers', prev.at) ?? 0;
  }
  return ratio(expired, offers);
}

/** One gateway's sockets as the latest summary tells them. */
export interface GatewaySockets {
  id: string;
  host: string;
  gone: boolean;
  /** All its sockets. */
  total: number;
  byRole: Record<string, number>;
}

/** Sockets per gateway (nodes of role gateway or all), most sockets first. */
export function socketsPerGateway(s: OpsSummary): GatewaySockets[] {
  return s.nodes
    .filter((n) => n.role === 'gateway' || n.role === 'all')
    .map((n) => ({ id: n.id, host: n.host, gone: n.gone, byRole: { ...n.sockets }, total: Object.values(n.sockets).reduce((a, b) => a + b, 0) }))
    .sort((a, b) => b.total - a.total || a.id.localeCompare(b.id));
}

/** A KPI value for display: rates and counts with few decimals, ratios in %, seconds as ms/s; "—" when unknown. */
export function formatKpi(name: KpiName, v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '—';
  switch (name) {
    case 'acceptance': case 'unfulfilledRate': case 'expiryRate':
      return `${(v * 100).toFixed(1)}%`;
    case 'dispatch.p50': case 'dispatch.p99': case 'round.seconds':
      return v < 1 ? `${Math.round(v * 1000)} ms` : `${v.toFixed(2)} s`;
    case 'calls.requested': case 'calls.completed': case 'calls.cancelled': case 'calls.unfulfilled': case 'round.size':
      return v >= 100 ? v.toFixed(0) : v.toFixed(1);
    default:
      return String(Math.round(v));
  }
}
