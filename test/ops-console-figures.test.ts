/**
 * The operator console's pure parts, in node: the KPI series from summaries (server/ops/console/src/figures.ts)
 * and the alert rules (alert-rules.ts), with hand-made summaries and states.
 */
import { expect } from 'chai';
import type { Call, OpsDriver, OpsSummary } from '../protocol/index.js';
import type { SummarySample } from '../server/ops/console/src/figures.js';
import type { ConsoleConfig, ConsoleState } from '../server/ops/console/src/alert-rules.js';
import {
  deltaOf, dispatchQuantile, formatKpi, kpiSeries, lastValue, quantileOf, queueDepth, recentExpiryRate, socketsPerGateway,
} from '../server/ops/console/src/figures.js';
import { alertsOf, STALE_GROUP_OVER } from '../server/ops/console/src/alert-rules.js';

type Node = OpsSummary['nodes'][number];

function node(id: string, figures: Record<string, number>, o: Partial<Node> = {}): Node {
  return { id, role: id.split(':')[0]!, host: 'h', pid: 1, startedMs: 0, lastSeenMs: 0, gone: false, sockets: {}, figures, ...o };
}

function summary(nodes: Node[], extra: Partial<OpsSummary> = {}): OpsSummary {
  const figures: Record<string, number> = {};
  const sockets: Record<string, number> = {};
  for (const n of nodes) {
    if (n.gone) continue;
    for (const [k, v] of Object.entries(n.figures)) figures[k] = (figures[k] ?? 0) + v;
    for (const [k, v] of Object.entries(n.sockets)) sockets[k] = (sockets[k] ?? 0) + v;
  }
  return {
    nodes,
    totals: { nodes: nodes.filter((n) => !n.gone).length, gone: nodes.filter((n) => n.gone).length, byRole: {}, sockets, figures },
    drivers: { online: 0, available: 0, busy: 0, away: 0, counted: 0 },
    calls: { open: 0, byStatus: {}, counted: 0 },
    ...extra,
  };
}

const sample = (at: number, s: OpsSummary): SummarySample => ({ at, summary: s });

describe('ops console figures', () => {
  it('rates per minute from counter differences', () => {
    const a = sample(0, summary([node('gateway:a', { 'calls.completed': 10, 'calls.requested': 20 })]));
    const b = sample(30_000, summary([node('gateway:a', { 'calls.completed': 16, 'calls.requested': 30 })]));
    const s = kpiSeries([a, b]);
    expect(s['calls.completed']).to.deep.equal([{ at: 30_000, value: 12 }]);
    expect(s['calls.requested'][0]!.value).to.equal(20);
    expect(s['calls.cancelled'][0]!.value).to.equal(null);
  });

  it('a counter that goes down (a node restarted or gone) gives no negative rate', () => {
    const a = sample(0, summary([node('gateway:a', { offers: 100 }), node('dispatcher:b', { offers: 50 })]));
    // a restarted in place (counter lower), b gone (not summed any more).
    const b = sample(60_000, summary([node('gateway:a', { offers: 5 }), node('dispatcher:b', { offers: 50 }, { gone: true })]));
    expect(deltaOf(a.summary, b.summary, 'offers', a.at)).to.equal(0);
    // A node new since the previous sample counts from 0; one that was already running before is skipped.
    const c = sample(120_000, summary([
      node('gateway:a', { offers: 15 }), node('gateway:c', { offers: 7 }, { startedMs: 70_000 }), node('gateway:d', { offers: 1000 }, { startedMs: 1 }),
    ]));
    expect(deltaOf(b.summary, c.summary, 'offers', b.at)).to.equal(10 + 7);
    for (const p of kpiSeries([a, b, c])['calls.completed']) expect(p.value === null || p.value >= 0).to.be.true;
  });

  it('totals only (no nodes): the difference clamped at 0', () => {
    const a = summary([]);
    a.totals.figures.offers = 10;
    const b = summary([]);
    b.totals.figures.offers = 4;
    expect(deltaOf(a, b, 'offers', 0)).to.equal(0);
    expect(deltaOf(b, a, 'offers', 0)).to.equal(6);
    expect(deltaOf(a, b, 'nothing', 0)).to.equal(null);
  });

  it('a zero or negative interval gives no point; one sample gives gauges only', () => {
    const a = sample(1000, summary([node('gateway:a', { offers: 1 })]));
    const b = sample(1000, summary([node('gateway:a', { offers: 3 })]));
    const s = kpiSeries([a, b]);
    expect(s.acceptance).to.deep.equal([]);
    expect(s['drivers.online']).to.have.length(2);
    expect(kpiSeries([a]).expiryRate).to.deep.equal([]);
    expect(kpiSeries([])['drivers.online']).to.deep.equal([]);
  });

  it('acceptance, unfulfilled, expiry rates and round size and time', () => {
    const a = sample(0, summary([node('dispatcher:a', {
      offers: 10, 'accepts.won': 5, 'revoked.expired': 1, 'calls.requested': 10, 'calls.unfulfilled': 0, rounds: 2, roundCalls: 10, roundSeconds: 0.1,
    })]));
    const b = sample(60_000, summary([node('dispatcher:a', {
      offers: 30, 'accepts.won': 15, 'revoked.expired': 5, 'calls.requested': 30, 'calls.unfulfilled': 2, rounds: 6, roundCalls: 30, roundSeconds: 0.5,
    })]));
    const s = kpiSeries([a, b]);
    expect(s.acceptance[0]!.value).to.equal(0.5);
    expect(s.expiryRate[0]!.value).to.equal(0.2);
    expect(s.unfulfilledRate[0]!.value).to.equal(0.1);
    expect(s['round.size'][0]!.value).to.equal(5);
    expect(s['round.seconds'][0]!.value).to.be.closeTo(0.1, 1e-9);
    // No offers in an interval: no acceptance rate (not 0, not NaN).
    expect(kpiSeries([b, sample(120_000, b.summary)]).acceptance[0]!.value).to.equal(null);
    expect(formatKpi('acceptance', 0.5)).to.equal('50.0%');
    expect(formatKpi('dispatch.p50', null)).to.equal('—');
    expect(formatKpi('dispatch.p50', 0.25)).to.equal('250 ms');
  });

  it('quantiles by linear interpolation inside the bucket', () => {
    const buckets = [{ le: 1, count: 10 }, { le: 2, count: 30 }, { le: 5, count: 40 }, { le: Infinity, count: 40 }];
    expect(quantileOf(buckets, 0.5)).to.be.closeTo(1.5, 1e-9); // rank 20: halfway through (1, 2]
    expect(quantileOf(buckets, 0.125)).to.be.closeTo(0.5, 1e-9); // rank 5 in the first bucket, from 0
    expect(quantileOf(buckets, 0.99)).to.be.closeTo(2 + 3 * (39.6 - 30) / 10, 1e-9);
    // A rank in +Inf answers the largest finite bound.
    expect(quantileOf([{ le: 1, count: 1 }, { le: Infinity, count: 10 }], 0.9)).to.equal(1);
    expect(quantileOf([{ le: 1, count: 0 }], 0.5)).to.equal(null);
    expect(quantileOf([], 0.5)).to.equal(null);
  });

  it('request → dispatched quantiles from bucket deltas; "—" when the buckets are missing', () => {
    const a = sample(0, summary([node('dispatcher:a', { 'toDispatch.le.0.5': 100, 'toDispatch.le.1': 100, 'toDispatch.le.+Inf': 100, 'toDispatch.count': 100 })]));
    const b = sample(10_000, summary([node('dispatcher:a', { 'toDispatch.le.0.5': 100, 'toDispatch.le.1': 110, 'toDispatch.le.+Inf': 110, 'toDispatch.count': 110 })]));
    // Only the 10 new ones count, all in (0.5, 1].
    expect(dispatchQuantile(a, b, 0.5)).to.be.closeTo(0.75, 1e-9);
    const s = kpiSeries([a, b]);
    expect(s['dispatch.p99'][0]!.value).to.be.closeTo(0.5 + 0.5 * 0.99, 1e-9);
    const c = sample(0, summary([node('dispatcher:a', { offers: 1 })]));
    const d = sample(10_000, summary([node('dispatcher:a', { offers: 2 })]));
    expect(kpiSeries([c, d])['dispatch.p50'][0]!.value).to.equal(null);
    expect(formatKpi('dispatch.p50', lastValue(kpiSeries([c, d])['dispatch.p50']))).to.equal('—');
    // The older name is read too.
    const e = sample(0, summary([node('dispatcher:a', { 'dispatchLatency.le.2': 0, 'dispatchLatency.le.4': 0 })]));
    const f = sample(1000, summary([node('dispatcher:a', { 'dispatchLatency.le.2': 0, 'dispatchLatency.le.4': 4 })]));
    expect(dispatchQuantile(e, f, 0.5)).to.equal(3);
  });

  it('gauges: drivers, queue depth, ledger lag, sockets per gateway', () => {
    const s = summary([
      node('gateway:a', {}, { sockets: { driver: 3, passenger: 2 } }),
      node('gateway:b', {}, { sockets: { driver: 10 }, gone: true }),
      node('dispatcher:c', { 'queue.waiting': 4, 'queue.delayed': 2, 'queue.active': 1, ledgerLag: 7 }),
    ], { drivers: { online: 5, available: 3, busy: 2, away: 1, counted: 5 } });
    expect(queueDepth(s)).to.equal(6);
    expect(queueDepth(summary([]))).to.equal(null);
    const g = kpiSeries([sample(0, s)]);
    expect(g.ledgerLag[0]!.value).to.equal(7);
    expect(g['drivers.busy'][0]!.value).to.equal(2);
    expect(socketsPerGateway(s).map((x) => [x.id, x.total, x.gone])).to.deep.equal([['gateway:b', 10, true], ['gateway:a', 5, false]]);
  });

  it('the recent expiry rate sums the last intervals', () => {
    const at = (t: number, offers: number, expired: number) => sample(t, summary([node('dispatcher:a', { offers, 'revoked.expired': expired })]));
    const samples = [at(0, 0, 0), at(5000, 100, 90), at(10_000, 110, 90), at(15_000, 120, 91), at(20_000, 130, 92)];
    expect(recentExpiryRate(samples, 3)).to.be.closeTo(2 / 30, 1e-9);
    expect(recentExpiryRate(samples.slice(0, 1))).to.equal(null);
  });
});

describe('ops console alerts', () => {
  const config: ConsoleConfig = { alertWaitMs: 60_000, stalePositionMs: 30_000, expiryRate: 0.2 };
  const now = Date.parse('2026-01-01T00:10:00Z');
  const call = (id: string, status: Call['status'], createdAt: string): Call => ({
    id, passengerId: `p-${id}`, status, pickup: { lat: 0, lng: 0 }, dropoff: { lat: 0, lng: 0 }, driverId: null, seq: 1, createdAt, updatedAt: createdAt,
  });
  const driver = (id: string, updatedAt: number, status: OpsDriver['status'] = 'available'): OpsDriver => ({
    driverId: id, status, away: false, lat: 0, lng: 0, updatedAt, callId: null, vehicleClass: null, suspended: false, offered: false,
  });
  const state = (o: Partial<ConsoleState>): ConsoleState => ({
    drivers: new Map(), calls: new Map(), summaries: [], ...o,
  });

  it('calls waiting (requested or offered) longer than alertWaitMs, longest first', () => {
    const calls = new Map([
      ['c1', call('c1', 'requested', '2026-01-01T00:08:00Z')],
      ['c2', call('c2', 'offered', '2026-01-01T00:05:00Z')],
      ['c3', call('c3', 'dispatched', '2026-01-01T00:00:00Z')],
      ['c4', call('c4', 'requested', '2026-01-01T00:09:30Z')],
    ]);
    const alerts = alertsOf(state({ calls }), config, now);
    expect(alerts.map((a) => a.id)).to.deep.equal(['wait:c2', 'wait:c1']);
    expect(alerts[0]!.target).to.deep.equal({ callId: 'c2' });
    expect(alerts[0]!.kind).to.equal('wait');
  });

  it('stale drivers one by one, grouped when many', () => {
    const few = new Map([['d1', driver('d1', now - 40_000)], ['d2', driver('d2', now - 10_000)], ['d3', driver('d3', now - 99_000, 'offline')]]);
    expect(alertsOf(state({ drivers: few }), config, now).map((a) => a.id)).to.deep.equal(['stale:d1']);
    const many = new Map<string, OpsDriver>();
    for (let j = 0; j <= STALE_GROUP_OVER; j++) many.set(`d${j}`, driver(`d${j}`, now - 31_000 - j * 1000));
    const alerts = alertsOf(state({ drivers: many }), config, now);
    expect(alerts).to.have.length(1);
    expect(alerts[0]!.kind).to.equal('stale');
    expect(alerts[0]!.text).to.contain(`${STALE_GROUP_OVER + 1} drivers with stale positions`);
    expect(alerts[0]!.text).to.contain(`d${STALE_GROUP_OVER}`); // the stalest named first
    expect(alerts[0]!.target).to.deep.equal({ driverId: `d${STALE_GROUP_OVER}` });
  });

  it('nodes gone in the latest summary, and the offer expiry rate', () => {
    const gone = node('dispatcher:h2:42:abcd', { offers: 0 }, { host: 'h2', pid: 42, gone: true, lastSeenMs: now - 20_000 });
    const summaries = [
      sample(now - 10_000, summary([node('gateway:a', { offers: 10, 'revoked.expired': 0 }), node('gateway:g', {}, { gone: true })])),
      sample(now, summary([node('gateway:a', { offers: 20, 'revoked.expired': 5 }), gone])),
    ];
    const alerts = alertsOf(state({ summaries }), config, now);
    expect(alerts.map((a) => a.kind)).to.deep.equal(['node-gone', 'expiry']);
    expect(alerts[0]!.text).to.match(/^dispatcher h2 \(pid 42\) gone/);
    expect(alerts[1]!.text).to.contain('50.0%');
    // Below the threshold: no expiry alert.
    expect(alertsOf(state({ summaries }), { ...config, expiryRate: 0.6 }, now).map((a) => a.kind)).to.deep.equal(['node-gone']);
  });
});
