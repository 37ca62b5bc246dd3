/** The load report: its JSON shape, latency percentiles from HDR histograms, and the text version. */
import { build, type Histogram } from 'hdr-histogram-js';

/** Percentiles of one latency, in ms (0.1 ms resolution); all null when nothing was measured. */
export interface Percentiles {
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
}

/** What `dispatch load --json` prints and `runLoad` resolves with. */
export interface LoadReport {
  calls: { requested: number; dispatched: number; completed: number; unfulfilled: number; failed: number };
  latencyMs: { requestToOffer: Percentiles; acceptToRider: Percentiles; requestToDispatched: Percentiles };
  /** Error acks (and client-side ACK_TIMEOUT / CONNECT_FAILED) by code, over every simulated user. */
  errors: Record<string, number>;
  invariants: { doubleAssignments: number; lostCalls: number };
}

/** Latencies recorded in microseconds into an HDR histogram (3 significant digits). */
export class Latency {
  private readonly h: Histogram = build({ lowestDiscernibleValue: 1, numberOfSignificantValueDigits: 3, autoResize: true });

  get count(): number {
    return this.h.totalCount;
  }

  record(ms: number): void {
    if (!Number.isFinite(ms)) return;
    this.h.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  summary(): Percentiles {
    if (this.h.totalCount === 0) return { p50: null, p90: null, p99: null, max: null };
    const max = this.h.maxValue;
    // A percentile is reported as the top of its HDR bucket, which may lie just above the true max.
    const at = (p: number) => ms(Math.min(this.h.getValueAtPercentile(p), max));
    return { p50: at(50), p90: at(90), p99: at(99), max: ms(max) };
  }
}

const ms = (us: number) => Math.round(us / 100) / 10;

export function invariantsHold(r: LoadReport): boolean {
  return r.invariants.doubleAssignments === 0 && r.invariants.lostCalls === 0;
}

/** The report for people: counts, a latency table, errors, invariants. */
export function formatReport(r: LoadReport, extra: { elapsedS?: number } = {}): string {
  const c = r.calls;
  const rate = extra.elapsedS ? ` (${(c.requested / extra.elapsedS).toFixed(1)}/s over ${extra.elapsedS.toFixed(1)} s)` : '';
  const lines = [
    `calls       requested ${c.requested}${rate}, dispatched ${c.dispatched}, completed ${c.completed}, unfulfilled ${c.unfulfilled}, failed ${c.failed}`,
    '',
    `latency ms            ${['p50', 'p90', 'p99', 'max'].map((h) => h.padStart(9)).join('')}`,
  ];
  const row = (name: string, p: Percentiles) =>
    `  ${name.padEnd(20)}${[p.p50, p.p90, p.p99, p.max].map((v) => (v === null ? '-' : v.toFixed(1)).padStart(9)).join('')}`;
  lines.push(row('request → offer', r.latencyMs.requestToOffer));
  lines.push(row('accept → rider', r.latencyMs.acceptToRider));
  lines.push(row('request → dispatched', r.latencyMs.requestToDispatched));
  lines.push('');
  const errors = Object.entries(r.errors).map(([code, n]) => `${code}=${n}`);
  lines.push(`errors      ${errors.length ? errors.join(' ') : 'none'}`);
  const ok = invariantsHold(r);
  lines.push(`invariants  doubleAssignments ${r.invariants.doubleAssignments}, lostCalls ${r.invariants.lostCalls}  ${ok ? 'OK' : 'BROKEN'}`);
  return lines.join('\n');
}
