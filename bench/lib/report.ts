/** The bench result as a table (stdout) and as BENCHMARKS.md (the generated part, between markers). */
import type { Percentiles } from '../../clients/cli/report.js';
import type { BenchResult } from './bench.js';
import { TARGETS } from './plan.js';
import type { CpuShare } from './procs.js';
import type { ProfileSummary } from './profile.js';
import { ledgerMarkdown, ledgerRows } from './report-ledger.js';
import { matchingMarkdown, matchingRows } from './report-matching.js';
import { opsFeedRows } from './report-ops-feed.js';
import type { StepResult } from './scenarios.js';

export interface Row {
  scenario: string;
  figure: string;
  product: string;
  raw: string;
  ratio: string;
  target: string;
  verdict: 'met' | 'MISSED' | '—';
}

const ms = (v: number | null | undefined) => (v === null || v === undefined ? '-' : `${v} ms`);
const ratio = (a: number | null | undefined, b: number | null | undefined) => {
  if (a === null || a === undefined || b === null || b === undefined || b === 0) return '-';
  const r = a / b;
  return `${r >= 10 ? r.toFixed(1) : r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}×`;
};
const verdict = (ok: boolean | null): Row['verdict'] => (ok === null ? '—' : ok ? 'met' : 'MISSED');
const n = (v: number) => v.toLocaleString('en-US');

export function rows(r: BenchResult): Row[] {
  const out: Row[] = [];
  const cap = r.capacity;
  if (r.throughput) {
    const t = r.throughput;
    out.push({
      scenario: '1 throughput',
      figure: 'max sustained calls/s (requested → dispatched, invariants hold)',
      product: `${n(t.maxSustained)}/s`,
      raw: cap ? `BullMQ ${n(cap.bullmq.consume.perS)} jobs/s` : '-',
      ratio: cap ? ratio(t.maxSustained, cap.bullmq.consume.perS) : '-',
      target: `≥ ${n(TARGETS.throughputCallsPerS)}/s`,
      verdict: verdict(t.maxSustained >= TARGETS.throughputCallsPerS),
    });
  }
  if (r.latency) {
    const l = r.latency;
    const p = l.product.load.report.latencyMs;
    const bq = l.raw.bullmq.consume.latencyMs.p99;
    const room = l.raw.room.latencyMs.p99;
    const sum = bq !== null && room !== null ? Math.round((bq + room) * 10) / 10 : null;
    const at = `at ${l.rate}/s (${l.product.load.achievedRate}/s achieved${l.product.sustained ? '' : ', not sustained'})`;
    out.push({
      scenario: '2 latency',
      figure: `p99 request → offer ${at}`,
      product: ms(p.requestToOffer.p99),
      raw: `BullMQ ${ms(bq)} + emit ${ms(room)} = ${ms(sum)}`,
      ratio: ratio(p.requestToOffer.p99, sum),
      target: `≤ 2× (${ms(l.bounds.requestToOffer)})`,
      verdict: verdict(l.bounds.requestToOffer === null || p.requestToOffer.p99 === null ? null : p.requestToOffer.p99 <= l.bounds.requestToOffer),
    });
    out.push({
      scenario: '2 latency',
      figure: `p99 accept → rider notified ${at}`,
      product: ms(p.acceptToRider.p99),
      raw: `cross-node emit ${ms(room)}`,
      ratio: ratio(p.acceptToRider.p99, room),
      target: `≤ 2× (${ms(l.bounds.acceptToRider)})`,
      verdict: verdict(l.bounds.acceptToRider === null || p.acceptToRider.p99 === null ? null : p.acceptToRider.p99 <= l.bounds.acceptToRider),
    });
  }
  if (r.contention) {
    const c = r.contention;
    const pr = c.product;
    out.push({
      scenario: '3 contention',
      figure: `calls with exactly one winner (${c.driversPerCall} drivers racing each)`,
      product: `${n(pr.exactlyOne)}/${n(pr.calls)}`,
      raw: '-',
      ratio: '-',
      target: `${n(c.calls)}/${n(c.calls)}`,
      verdict: verdict(pr.exactlyOne === c.calls && pr.severalWinners === 0),
    });
    const rawSum = c.raw.ack.latencyMs.p99 !== null && c.raw.evalsha.latencyMs.p99 !== null ? Math.round((c.raw.ack.latencyMs.p99 + c.raw.evalsha.latencyMs.p99) * 10) / 10 : null;
    out.push({
      scenario: '3 contention',
      figure: 'p99 accept ack (every racing accept)',
      product: ms(pr.acceptAckMs.p99),
      raw: `ack burst ${ms(c.raw.ack.latencyMs.p99)} + EVALSHA burst ${ms(c.raw.evalsha.latencyMs.p99)}`,
      ratio: ratio(pr.acceptAckMs.p99, rawSum),
      target: 'reported',
      verdict: '—',
    });
  }
  if (r.connections) {
    const c = r.connections;
    const raw = c.raw;
    const skipped = 'not run (quick)';
    const sockets = c.product.gatewaySockets ?? c.product.connected;
    out.push({
      scenario: '4 connections',
      figure: 'sockets held over the two gateways',
      product: n(sockets),
      raw: raw ? n(raw.connected) : skipped,
      ratio: ratio(sockets, raw?.connected),
      target: `${n(c.requested)}`,
      verdict: verdict(sockets >= c.requested),
    });
    out.push({
      scenario: '4 connections',
      figure: 'heap per socket (gateways, after GC)',
      product: c.product.heapPerSocketKB === null ? '-' : `${c.product.heapPerSocketKB} KB`,
      raw: raw ? (raw.heapPerSocketKB === null ? '-' : `${raw.heapPerSocketKB} KB`) : skipped,
      ratio: ratio(c.product.heapPerSocketKB, raw?.heapPerSocketKB),
      target: `≤ ${TARGETS.heapPerSocketKB} KB`,
      verdict: verdict(c.product.heapPerSocketKB === null ? null : c.product.heapPerSocketKB <= TARGETS.heapPerSocketKB),
    });
    const lp = c.product.step.load.report.latencyMs;
    const at = `at ${c.product.step.rate}/s (${c.product.step.load.achievedRate}/s achieved)`;
    out.push({
      scenario: '4 connections',
      figure: `p99 request → offer under load ${at}`,
      product: ms(lp.requestToOffer.p99),
      raw: raw ? `ack ${ms(raw.ack.latencyMs.p99)}, emit ${ms(raw.room.latencyMs.p99)}` : skipped,
      ratio: ratio(lp.requestToOffer.p99, raw?.room.latencyMs.p99),
      target: 'reported',
      verdict: '—',
    });
    out.push({
      scenario: '4 connections',
      figure: `p99 accept → rider under load ${at}`,
      product: ms(lp.acceptToRider.p99),
      raw: raw ? `cross-node emit ${ms(raw.room.latencyMs.p99)}` : skipped,
      ratio: ratio(lp.acceptToRider.p99, raw?.room.latencyMs.p99),
      target: 'reported',
      verdict: '—',
    });
  }
  if (r.rest) {
    const s = r.rest;
    out.push({
      scenario: '5 REST',
      figure: `POST /api/calls requests/s (2xx), ${s.connections} connections`,
      product: `${n(s.product.okPerS)}/s`,
      raw: `node:http ${n(s.raw.okPerS)}/s`,
      ratio: ratio(s.product.okPerS, s.raw.okPerS),
      target: `≥ ${n(TARGETS.restPerS)}/s (old: ${TARGETS.oldRestPerS}/s)`,
      verdict: verdict(s.product.okPerS >= TARGETS.restPerS),
    });
    out.push({
      scenario: '5 REST',
      figure: 'availability (2xx / requests)',
      product: `${s.product.availability} %`,
      raw: `${s.raw.availability} %`,
      ratio: '-',
      target: `${TARGETS.restAvailability} % (old: ${TARGETS.oldRestAvailability} %)`,
      verdict: verdict(s.product.availability >= TARGETS.restAvailability),
    });
    out.push({
      scenario: '5 REST',
      figure: 'p99 response time',
      product: ms(s.product.latencyMs.p99),
      raw: ms(s.raw.latencyMs.p99),
      ratio: ratio(s.product.latencyMs.p99, s.raw.latencyMs.p99),
      target: 'reported',
      verdict: '—',
    });
  }
  if (r.ledger) out.push(...ledgerRows(r.ledger, r.plan.ledger));
  if (r.matching) out.push(...matchingRows(r.matching, r.plan.matching));
  return out;
}

/** Fixed-width text table for the terminal. */
export function textTable(r: BenchResult): string {
  // The operator feed's rows are in its own section of BENCHMARKS.md, not in the generated table.
  const rs = [...rows(r), ...(r.opsFeed ? opsFeedRows(r.opsFeed) : [])];
  const head: Row = { scenario: 'scenario', figure: 'figure', product: 'product', raw: 'raw', ratio: 'prod/raw', target: 'target', verdict: '—' };
  const cols: (keyof Row)[] = ['scenario', 'figure', 'product', 'raw', 'ratio', 'target', 'verdict'];
  const width = (c: keyof Row) => Math.max(...[head, ...rs].map((x) => (c === 'verdict' && x === head ? 7 : String(x[c]).length)));
  const line = (x: Row, isHead = false) => cols.map((c) => (isHead && c === 'verdict' ? 'verdict' : String(x[c])).padEnd(width(c))).join('  ');
  return [line(head, true), cols.map((c) => '-'.repeat(width(c))).join('  '), ...rs.map((x) => line(x))].join('\n');
}

const pct = (p: Percentiles) => `${p.p50 ?? '-'} / ${p.p90 ?? '-'} / ${p.p99 ?? '-'} / ${p.max ?? '-'}`;

function cpuLine(c: CpuShare | null | undefined): string {
  if (!c) return '-';
  const parts = Object.entries(c.byRole).filter(([, v]) => v > 0.5).map(([k, v]) => `${k} ${Math.round(v)}`);
  return `${parts.join(', ')}; others ${Math.round(c.others)} (machine ${Math.round(c.machineBusy)} % busy)`;
}

export function lagLine(lag: Record<string, { p99: number; max: number } | null>): string {
  const parts = Object.entries(lag).map(([role, l]) => (l ? `${role} ${l.p99}/${l.max}` : `${role} **stuck > 5 s** (no answer)`));
  return parts.length ? parts.join(', ') : '-';
}

function stepRow(s: StepResult): string {
  const r = s.load.report;
  const errors = Object.entries(r.errors).map(([k, v]) => `${k}=${v}`).join(' ') || 'none';
  return `| ${s.rate} | ${s.drivers}/${s.riders} | ${s.load.achievedRate} | ${r.calls.requested} / ${r.calls.dispatched} / ${r.calls.completed} | ${pct(r.latencyMs.requestToOffer)} | ${pct(r.latencyMs.requestToDispatched)} | ${r.invariants.doubleAssignments} / ${r.invariants.lostCalls} | ${errors} | ${cpuLine(s.cpu)} | ${lagLine(s.lag)} | ${s.sustained ? 'yes' : `**no**: ${s.why.join('; ')}`} |`;
}

export const BEGIN = '<!-- bench:begin — generated by `npm run bench`; everything up to bench:end is replaced on every run -->';
export const END = '<!-- bench:end -->';

export function markdown(r: BenchResult): string {
  const m = r.meta;
  const mc = m.machine;
  const L: string[] = [BEGIN, '', '# Benchmarks', ''];
  L.push(`Run **${m.date.replace('T', ' ').slice(0, 16)} UTC**, \`${m.command}\` (${m.mode}), ${Math.round(m.elapsedS)} s.`);
  L.push('');
  L.push(`Machine: ${mc.cores} cores (${mc.cpuModel}), ${mc.memoryGiB} GiB, ${mc.os}, Node ${mc.node}, Redis ${mc.redis} ` +
    `(private \`redis-server\`, AOF \`appendfsync everysec\`, loopback), open files per process ${n(mc.fdLimit)}. ` +
    'Two gateway processes and one dispatcher (`node --import tsx server/main.ts`), every load in processes of its own.');
  L.push('');
  const code = m.code;
  L.push(`Code: commit \`${code.commit}\`${code.dirty.length ? ` with uncommitted changes to ${code.dirty.map((f) => `\`${f}\``).join(', ')}` : ''} ` +
    `(server/ + protocol/ digest \`${code.digest}\`)${code.changedDuringRun ? '. **The product code changed during the run** (others work in this tree): figures from before and after the change are mixed.' : '.'}`);
  L.push('');
  L.push(`Noise: load average ${m.loadAvgStart.join(' ')} at the start, ${m.loadAvgEnd.join(' ')} at the end. Over the ${m.noise.measuredS} s measured, ` +
    `processes that are not the bench's took on average **${m.noise.othersAvg} % of one core** (at most ${m.noise.othersMax} % in one window) of the ${mc.cores * 100} % there is; ` +
    `the machine was ${m.noise.machineBusyAvg} % busy. The machine is shared with other engineers' test runs: every figure below is as noisy as that ` +
    '("others" in each CPU column).');
  if (m.errors.length) {
    L.push('');
    for (const e of m.errors) L.push(`**Scenario ${e.scenario} failed:** \`${e.message.split('\n')[0]?.slice(0, 300) ?? ''}\``);
  }
  L.push('', '## Figures against the targets', '');
  L.push('| scenario | figure | product | raw, same run | product / raw | target | |', '|---|---|---|---|---|---|---|');
  for (const x of rows(r)) L.push(`| ${x.scenario} | ${x.figure} | ${x.product} | ${x.raw} | ${x.ratio} | ${x.target} | ${x.verdict === 'MISSED' ? '**MISSED**' : x.verdict} |`);
  const missed = rows(r).filter((x) => x.verdict === 'MISSED');
  L.push('', missed.length ? `Missed: ${missed.map((x) => `${x.scenario} — ${x.figure}`).join('; ')}.` : 'Every target with a verdict is met.');

  L.push('', '## Details', '', 'Latencies are p50 / p90 / p99 / max in ms (HDR histograms at the clients). CPU is % of one core per process over the measured window.');
  if (r.capacity) {
    const c = r.capacity;
    L.push('', '### Raw stack capacity (flat out, same machine, same Redis)', '', '| piece | ops/s | latency | CPU |', '|---|---|---|---|');
    L.push(`| Socket.IO emit-with-ack, ${c.ack.clients} clients, ${r.plan.capacity.concurrency} in flight | ${n(c.ack.perS)} | ${pct(c.ack.latencyMs)} | ${cpuLine(c.ack.cpu)} |`);
    L.push(`| cross-node room emit (redis adapter), ${c.room.clients} clients | ${n(c.room.perS)} | ${pct(c.room.latencyMs)} | ${cpuLine(c.room.cpu)} |`);
    L.push(`| BullMQ add → process (worker concurrency 50) | adds ${n(c.bullmq.produce.perS)}, processed ${n(c.bullmq.consume.perS)} | ${pct(c.bullmq.consume.latencyMs)} | ${cpuLine(c.bullmq.cpu)} |`);
    L.push(`| EVALSHA accept-shaped script, 50 in flight on one connection | ${n(c.evalsha.perS)} | ${pct(c.evalsha.latencyMs)} | ${cpuLine(c.evalsha.cpu)} |`);
  }
  if (r.throughput) {
    L.push('', '### 1. Throughput: stepping the call rate up', '');
    L.push(`Each step: \`runLoad\` (clients/cli/sim) for ${r.plan.throughput.durationS} s, drivers/riders as listed, trips of 300 ms, answers in 0-50 ms, positions every 5 s, ` +
      `drain ≤ ${r.plan.throughput.drainMs / 1000} s. Sustained = invariants hold, no failed or undispatched call, no error other than lost races, ` +
      '≥ 95 % of the rate requested, p99 request → dispatched ≤ 2 s.');
    L.push('', '| calls/s | drivers/riders | achieved/s | requested / dispatched / completed | request → offer | request → dispatched | double / lost | errors | CPU (% of a core) | event-loop delay p99/max ms | sustained |', '|---|---|---|---|---|---|---|---|---|---|---|');
    for (const s of r.throughput.steps) L.push(stepRow(s));
    const last = r.throughput.steps[r.throughput.steps.length - 1];
    if (last?.redisTop.length) {
      L.push('', `Redis commandstats over the last step (${last.rate}/s), top by total time: ${last.redisTop.map((c) => `${c.command} ${n(c.calls)} calls × ${c.usecPerCall} µs`).join('; ')}.`);
    }
  }
  if (r.latency) {
    const l = r.latency;
    L.push('', `### 2. Latency at ${l.rate} calls/s`, '');
    L.push(`Raw baselines at ${l.rate}/s with ${n(l.clients)} clients (the product run's drivers + riders), ${r.plan.latency.rawDurationS} s each:`, '');
    L.push('| raw piece | ops/s | latency | CPU |', '|---|---|---|---|');
    L.push(`| Socket.IO emit-with-ack | ${n(l.raw.ack.perS)} | ${pct(l.raw.ack.latencyMs)} | ${cpuLine(l.raw.ack.cpu)} |`);
    L.push(`| cross-node room emit | ${n(l.raw.room.perS)} | ${pct(l.raw.room.latencyMs)} | ${cpuLine(l.raw.room.cpu)} |`);
    L.push(`| BullMQ add → process | ${n(l.raw.bullmq.consume.perS)} | ${pct(l.raw.bullmq.consume.latencyMs)} | ${cpuLine(l.raw.bullmq.cpu)} |`);
    L.push(`| EVALSHA accept-shaped | ${n(l.raw.evalsha.perS)} | ${pct(l.raw.evalsha.latencyMs)} | ${cpuLine(l.raw.evalsha.cpu)} |`);
    const p = l.product.load.report;
    L.push('', `Product, ${r.plan.latency.durationS} s: requested ${p.calls.requested} (${l.product.load.achievedRate}/s), dispatched ${p.calls.dispatched}, ` +
      `invariants ${p.invariants.doubleAssignments}/${p.invariants.lostCalls}, ${l.product.sustained ? 'sustained' : `not sustained (${l.product.why.join('; ')})`}; CPU ${cpuLine(l.product.cpu)}; ` +
      `event-loop delay p99/max ms ${lagLine(l.product.lag)}.`, '');
    L.push('| product latency | p50 / p90 / p99 / max |', '|---|---|');
    L.push(`| request → offer | ${pct(p.latencyMs.requestToOffer)} |`, `| accept → rider notified | ${pct(p.latencyMs.acceptToRider)} |`, `| request → dispatched | ${pct(p.latencyMs.requestToDispatched)} |`);
  }
  if (r.contention) {
    const c = r.contention;
    const p = c.product;
    L.push('', '### 3. Contention', '');
    L.push(`${c.groups} groups of ${c.driversPerCall} drivers (40 km apart, OFFER_WAVE_SIZE=${c.driversPerCall}), ${p.calls} calls in all, one at a time per group; ` +
      'every driver accepts the moment its offer arrives; the winner runs the trip so the whole group races again.', '');
    L.push(`- exactly one winner: ${p.exactlyOne}/${p.calls}; no winner ${p.noWinner}; several winners ${p.severalWinners}; rider told another driver ${p.riderMismatch}; incomplete ${p.incomplete}`);
    L.push(`- offers per call: min ${p.offersPerCall.min}, mean ${p.offersPerCall.mean}; accepts ${n(p.accepts)}; losers answered ${Object.entries(p.loserCodes).map(([k, v]) => `${k}=${n(v)}`).join(' ') || '-'}`);
    L.push(`- accept ack, every accept: ${pct(p.acceptAckMs)}; the winner's: ${pct(p.winnerAckMs)}; request → rider told dispatched: ${pct(p.requestToDispatchedMs)}`);
    L.push(`- raw, same shape (${c.driversPerCall} at once × ${c.groups} groups): Socket.IO ack ${pct(c.raw.ack.latencyMs)}; EVALSHA ${pct(c.raw.evalsha.latencyMs)}`);
    L.push(`- ${p.elapsedS} s for the races; CPU ${cpuLine(p.cpu)}${Object.keys(p.errors).length ? `; errors ${JSON.stringify(p.errors)}` : ''}`);
  }
  if (r.connections) {
    const c = r.connections;
    const s = c.product.step;
    const lr = s.load.report;
    L.push('', '### 4. Connections', '');
    if (c.capped) L.push(`**Capped:** ${c.capped}.`, '');
    L.push(`${n(c.requested)} sockets asked; open files per process ${n(c.fdLimit)} (\`ulimit -n\`), so the sockets are spread over ${c.loadWorkers} load processes ` +
      '(each gateway holds half).', '');
    L.push(`- product: ${n(c.product.connected)} sockets (gateways count ${c.product.gatewaySockets === null ? '?' : n(c.product.gatewaySockets)}), drivers online in ${c.product.connectS} s; ` +
      `gateway heap ${c.product.heapBeforeMB ?? '?'} → ${c.product.heapAfterMB ?? '?'} MB after GC = **${c.product.heapPerSocketKB ?? '?'} KB per socket**`);
    if (c.product.held) {
      L.push(`- product, every driver online and reporting, no call, ${c.product.held.seconds} s: CPU ${cpuLine(c.product.held.cpu)}; event-loop delay p99/max ms ${lagLine(c.product.held.lag)}`);
    }
    if (c.raw) {
      L.push(`- raw: ${n(c.raw.connected)} plain Socket.IO sockets in ${c.raw.connectS} s, **${c.raw.heapPerSocketKB ?? '?'} KB per socket**; raw under that load: ack ${pct(c.raw.ack.latencyMs)}, cross-node emit ${pct(c.raw.room.latencyMs)}`);
      if (c.raw.held) L.push(`- raw, the same sockets emitting every ${r.plan.connections.locationEveryMs / 1000} s, ${c.raw.held.seconds} s: CPU ${cpuLine(c.raw.held.cpu)}; event-loop delay p99/max ms ${lagLine(c.raw.held.lag)}`);
    } else {
      L.push('- raw: not run in this mode');
    }
    L.push(`- calls under load at ${s.rate}/s for ${r.plan.connections.durationS} s: requested ${lr.calls.requested} (${s.load.achievedRate}/s), dispatched ${lr.calls.dispatched}, invariants ${lr.invariants.doubleAssignments}/${lr.invariants.lostCalls}, ` +
      `${s.sustained ? 'sustained' : `not sustained (${s.why.join('; ')})`}`);
    L.push(`- latency under load: request → offer ${pct(lr.latencyMs.requestToOffer)}; accept → rider ${pct(lr.latencyMs.acceptToRider)}; request → dispatched ${pct(lr.latencyMs.requestToDispatched)}`);
    L.push(`- fleets: ${c.product.fleets.map((f) => `${n(f.online)} online, ${f.connectFailures} failed, double trips ${f.doubleTrips}, errors ${JSON.stringify(f.errors)}`).join('; ')}`);
    L.push(`- during the calls: CPU ${cpuLine(s.cpu)}; event-loop delay p99/max ms ${lagLine(s.lag)}`);
    L.push(`- once every driver had signed off, the gateways answered \`/readyz\` promptly again after ${c.recoveryS === null ? '**more than 60 s**' : `${c.recoveryS} s`}; CPU meanwhile ${cpuLine(c.afterStopCpu)}`);
  }
  if (r.rest) {
    const s = r.rest;
    L.push('', '### 5. REST', '');
    L.push(`autocannon, ${s.connections} connections spread over the two gateways, each request a new passenger and requestId (a real new call).`, '');
    L.push('| target | 2xx/s | all answers/s | availability | status codes | errors / timeouts | latency p50 / p90 / p99 / max | CPU |', '|---|---|---|---|---|---|---|---|');
    for (const [name, x] of [['raw node:http', s.raw], ['product', s.product]] as const) {
      L.push(`| ${name} | ${n(x.okPerS)} | ${n(x.perS)} | ${x.availability} % | ${JSON.stringify(x.statusCodes)} | ${x.errors} / ${x.timeouts} | ${x.latencyMs.p50} / ${x.latencyMs.p90} / ${x.latencyMs.p99} / ${x.latencyMs.max} | ${cpuLine(x.cpu)} |`);
    }
    L.push('', `Dispatch jobs still waiting when the REST load ended: ${s.queueWaitingAfter ?? '?'}. Redis commandstats during it: ${s.redisTop.map((c) => `${c.command} ${n(c.calls)} × ${c.usecPerCall} µs`).join('; ')}.`);
  }
  if (r.micro) {
    const m = r.micro;
    const x = (a: number, b: number) => ratio(a, b);
    L.push('', '### Hot paths the profiles name, measured alone', '', '`bench/tasks/micro.ts`, in a load worker; each product path beside another way to do the same work.', '');
    L.push('| path | product | other way | product / other |', '|---|---|---|---|');
    L.push(`| SQLite ledger writer (server/ledger/sqlite.ts), ${n(m.ledger.entries)} entries in batches of 500 | ${m.ledger.product} µs per entry | ${m.ledger.prepared} µs (the three statements prepared once, by hand) | ${x(m.ledger.product, m.ledger.prepared)} |`);
    L.push(`| token check (server/gateway/auth.ts), ${n(m.jwt.tokens)} HS256 tokens | ${m.jwt.product} µs per token (its createVerifier: node:crypto HMAC, jose decoding) | ${m.jwt.jose} µs (jose jwtVerify, WebCrypto key made once) | ${x(m.jwt.product, m.jwt.jose)} |`);
    L.push(`| a failing call through the breaker (server/gateway/breaker.ts), ${n(m.breaker.fires)} calls in the window | ${m.breaker.product} ms per call (its breaker) | ${m.breaker.percentiles} ms (opossum's default: rolling percentiles on) | ${x(m.breaker.product, m.breaker.percentiles)} |`);
  }
  if (r.ledger) L.push(...ledgerMarkdown(r.ledger, r.plan.ledger));
  if (r.matching) L.push(...matchingMarkdown(r.matching, r.plan.matching));
  if (r.profiles?.length) {
    L.push('', '### CPU profiles (`node --cpu-prof`)', '');
    for (const p of r.profiles) {
      const what = p.what === 'throughput'
        ? `The product at ${p.step?.rate ?? '?'} calls/s`
        : p.what === 'connections'
          ? `${n(r.plan.connections.sockets)} sockets (drivers reporting every ${r.plan.connections.locationEveryMs / 1000} s) and ${p.step?.rate ?? '?'} calls/s`
          : `POST /api/calls (${p.rest?.okPerS ?? '?'} requests/s while profiled)`;
      L.push(`#### ${what}`, '');
      const show = (s: ProfileSummary) => {
        L.push(`**${s.process}**: busy ${s.busyS} s of ${s.spanS} s. By package: ${s.byPackage.slice(0, 8).map((x) => `${x.name} ${x.pct} %`).join(', ')}.`, '');
        L.push('| self % | frame |', '|---|---|');
        for (const f of s.topFrames.slice(0, 8)) L.push(`| ${f.pct} | \`${f.name}\` |`);
        L.push('');
      };
      for (const s of p.summaries) show(s);
      if (p.after?.length) {
        L.push(`After every driver signed off, until the gateways answered promptly again (${p.recoveryS === null || p.recoveryS === undefined ? 'not within 60 s' : `${p.recoveryS} s`}):`, '');
        for (const s of p.after.filter((x) => x.process.startsWith('gateway'))) show(s);
      }
    }
  }
  L.push('', END);
  return L.join('\n');
}

const HAND_PLACEHOLDER = `
## Bottlenecks and what would move them

(Written by hand from the evidence above — profiles, CPU shares, Redis commandstats; kept across runs.)
`;

/** The new BENCHMARKS.md: the generated part replaced, everything outside the markers kept. */
export function mergeMarkdown(existing: string | null, generated: string): string {
  if (existing) {
    const b = existing.indexOf(BEGIN);
    const e = existing.indexOf(END);
    if (b >= 0 && e > b) return `${existing.slice(0, b)}${generated}${existing.slice(e + END.length)}`;
  }
  return `${generated}\n${HAND_PLACEHOLDER}`;
}
