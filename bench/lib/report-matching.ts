/** Issue 11's part of the report: its target rows and its section of BENCHMARKS.md. */
import type { Percentiles } from '../../clients/cli/report.js';
import type { MatchingResult, MatchRun } from './matching.js';
import { MATCH_TARGETS as T, type MatchPlan, type MatchScenario, type Variant } from './match-plan.js';
import type { Row } from './report.js';
import { noWorse } from './replay.js';

const r2 = (v: number) => Math.round(v * 100) / 100;
const fmt = (v: number | null | undefined, unit = '') => (v === null || v === undefined ? '-' : `${v.toLocaleString('en-US')}${unit}`);
const verdict = (ok: boolean | null): Row['verdict'] => (ok === null ? '—' : ok ? 'met' : 'MISSED');
const pp = (p: Percentiles) => `${fmt(p.p50)} / ${fmt(p.p99)}`;

export interface Derived {
  perS: number;
  offers: number | null;
  waves: number | null;
  /** 'server' (dispatch_waves_per_dispatch) or 'drivers' (distinct expiresAt of the offers of each won call). */
  wavesFrom: 'server' | 'drivers';
  busy: number | null;
  pickupM: number | null;
  /** CPU ms per dispatched call (in the measured window), by process. */
  cpuMsPerCall: Record<string, number>;
}

export function derive(run: MatchRun): Derived {
  const won = run.drivers.won;
  const per = (x: number) => (won ? r2(x / won) : null);
  const cpuMsPerCall: Record<string, number> = {};
  const calls = run.riders.dispatchedInWindow;
  if (run.cpu && calls) {
    // The raw baseline servers sit idle here: not part of the figure.
    for (const [role, pct] of Object.entries(run.cpu.byRole)) {
      if (pct > 0 && role !== 'raw') cpuMsPerCall[role] = r2((pct / 100) * run.cpu.seconds * 1000 / calls);
    }
  }
  return {
    perS: run.riders.dispatchedPerS,
    offers: per(run.drivers.offers),
    waves: run.server.wavesPerDispatch ?? per(run.drivers.wavesOfWonCalls),
    wavesFrom: run.server.wavesPerDispatch !== null ? 'server' : 'drivers',
    busy: per(run.drivers.revoked.busy ?? 0),
    pickupM: won ? Math.round(run.drivers.wonDistanceM / won) : null,
    cpuMsPerCall,
  };
}

const find = (m: MatchingResult, s: MatchScenario, v: Variant) => m.runs.find((x) => x.scenario === s && x.variant === v);

export function matchingRows(m: MatchingResult, plan: MatchPlan): Row[] {
  const out: Row[] = [];
  const row = (figure: string, product: string, raw: string, ratio: string, target: string, ok: boolean | null) =>
    out.push({ scenario: '11 matching', figure, product, raw, ratio, target, verdict: verdict(ok) });
  const ratio = (a: number | null | undefined, b: number | null | undefined) => (a === null || a === undefined || !b ? '-' : `${r2(a / b)}×`);
  const hb = find(m, 'hotspot', 'batched');
  const hg = find(m, 'hotspot', 'greedy');
  const sb = find(m, 'spread', 'batched');
  const sg = find(m, 'spread', 'greedy');
  if (hb && sb) {
    const h = hb.riders.dispatchedPerS;
    const s = sb.riders.dispatchedPerS;
    row('hotspot closed loop ÷ spread closed loop, dispatched calls/s (batched)', `${fmt(h)}/s ÷ ${fmt(s)}/s = ${ratio(h, s)}`,
      hg && sg ? `greedy ${fmt(hg.riders.dispatchedPerS)}/s ÷ ${fmt(sg.riders.dispatchedPerS)}/s = ${ratio(hg.riders.dispatchedPerS, sg.riders.dispatchedPerS)}` : '-',
      '-', `≥ ${T.hotspotVsSpread}×`, s ? h / s >= T.hotspotVsSpread : null);
  }
  const ob = find(m, 'open', 'batched');
  const og = find(m, 'open', 'greedy');
  if (ob) {
    const p = ob.riders.requestToDispatchedMs.p99;
    const g = og?.riders.requestToDispatchedMs.p99;
    const allIn = ob.riders.dispatched === ob.riders.requested && ob.riders.requested > 0;
    row(`open loop at the station, ${plan.open.rate} calls/s: p99 request → dispatched (batched; ${ob.riders.dispatched}/${ob.riders.requested} dispatched)`,
      fmt(p, ' ms'), og ? `greedy ${fmt(g, ' ms')}` : '-', ratio(p, g), `≤ ${T.openP99Ms} ms at ${T.openRate}/s`, p === null ? null : allIn && p <= T.openP99Ms);
  }
  const bg = find(m, 'burst', 'greedy');
  for (const v of ['batched', 'batched cap 3'] as const) {
    const b = find(m, 'burst', v);
    if (!b) continue;
    const p = b.riders.requestToDispatchedMs.p99;
    const allIn = b.riders.dispatched === b.riders.requested && b.riders.requested > 0;
    row(`burst of ${b.riders.requested}: p99 request → dispatched (${v}; ${b.riders.dispatched}/${b.riders.requested} dispatched)`, fmt(p, ' ms'),
      bg ? `greedy ${fmt(bg.riders.requestToDispatchedMs.p99, ' ms')}` : '-', ratio(p, bg?.riders.requestToDispatchedMs.p99), `≤ ${T.burstP99Ms} ms, all dispatched`, p === null ? null : allIn && p <= T.burstP99Ms);
    const d = derive(b);
    const dg = bg ? derive(bg) : null;
    row(`burst: waves per dispatched call (${v}; from the ${d.wavesFrom})`, fmt(d.waves), dg ? `greedy ${fmt(dg.waves)}` : '-', ratio(d.waves, dg?.waves),
      `≤ ${T.burstWavesPerDispatch}`, d.waves === null ? null : d.waves <= T.burstWavesPerDispatch);
    if (v === 'batched cap 3') {
      row('burst: `busy` revocations per dispatched call (cap 3)', fmt(d.busy), dg ? `greedy ${fmt(dg.busy)}` : '-', ratio(d.busy, dg?.busy),
        `≤ ${T.burstBusyPerDispatch}`, d.busy === null ? null : d.busy <= T.burstBusyPerDispatch);
    }
  }
  const wb = find(m, 'slow', 'batched');
  const wg = find(m, 'slow', 'greedy');
  if (wb && wg) {
    const b = wb.riders.requestToDispatchedMs.p50;
    const g = wg.riders.requestToDispatchedMs.p50;
    row('slow drivers: p50 request → dispatched (batched)', fmt(b, ' ms'), `greedy ${fmt(g, ' ms')}`, ratio(b, g), '≤ greedy\'s', b === null || g === null ? null : b <= g);
  }
  for (const x of m.replays) {
    if (x.none || !x.greedy || !x.optimal) {
      row(`replayed round (${x.variant} burst): total pickup distance`, x.none ?? '-', '-', '-', '≤ greedy\'s', null);
      continue;
    }
    row(`replayed round (${x.variant} burst, ${x.calls} calls): total pickup distance of the optimal plan (more calls matched counts first)`,
      `${fmt(x.optimal.totalDistanceM, ' m')}, ${x.optimal.matched} matched`, `greedy ${fmt(x.greedy.totalDistanceM, ' m')}, ${x.greedy.matched} matched`,
      ratio(x.optimal.totalDistanceM, x.greedy.totalDistanceM), '≤ greedy\'s', noWorse(x.optimal, x.greedy));
  }
  if (hb) {
    row('moonshot: hotspot closed loop, dispatched calls/s (batched)', `${fmt(hb.riders.dispatchedPerS)}/s`, hg ? `greedy ${fmt(hg.riders.dispatchedPerS)}/s` : '-',
      ratio(hb.riders.dispatchedPerS, T.moonshotCallsPerS), `≥ ${fmt(T.moonshotCallsPerS)}/s`, hb.riders.dispatchedPerS >= T.moonshotCallsPerS);
  }
  return out;
}

function cpuCell(run: MatchRun): string {
  if (!run.cpu) return '-';
  const parts = Object.entries(run.cpu.byRole).filter(([, v]) => v > 0.5).map(([k, v]) => `${k} ${Math.round(v)}`);
  return `${parts.join(', ')}; others ${Math.round(run.cpu.others)}`;
}

const perCall = (d: Derived) => Object.entries(d.cpuMsPerCall).filter(([, v]) => v >= 0.01).map(([k, v]) => `${k} ${v}`).join(', ') || '-';

export function matchingMarkdown(m: MatchingResult, p: MatchPlan): string[] {
  const L: string[] = ['', '### 11. Matching at one place: greedy against batched (issue 11)', ''];
  L.push(`Seoul Station (37.5547, 126.9707); each run on a fresh stack (new KEY_PREFIX) with \`CONNECT_RATE_PER_IP=0 RATE_LIMIT_PER_S=0 LOCATION_RATE_LIMIT_PER_S=0\`; ` +
    'greedy = `MATCH_STRATEGY=greedy MAX_OFFERS_PER_DRIVER=100` (the old behaviour), batched = `MATCH_STRATEGY=batched` (cap 1 unless named). ' +
    'Drivers never move, accept at once (unless named) and run each trip straight through (arrived, start, complete); one load worker holds the drivers, another the riders.', '');
  L.push(`- **hotspot** / **spread**: ${p.riders} riders in a closed loop (request, \`dispatched\`, \`completed\`, again), pickups within ${p.hotspotRadiusM} m / ${p.spreadRadiusM} m of the station, ` +
    `${p.drivers} drivers within ${p.driverRadiusM} m; ${p.warmupS} s warm-up, then ${p.durationS} s measured (calls requested in it, dispatches seen in it).`);
  L.push(`- **burst**: ${p.burst.calls} requests over ${p.burst.overS} s at the station, ${p.drivers} drivers within ${p.burst.driverRadiusM} m, each call waited for until dispatched (deadline ${p.burst.deadlineMs / 1000} s).`);
  L.push(`- **slow**: the hotspot loop with drivers answering after ${p.slow.answerDelayMs[0] / 1000}–${p.slow.answerDelayMs[1] / 1000} s (uniform) and ${p.slow.silentShare * 100} % never answering; ` +
    `\`OFFER_TIMEOUT_MS=${p.slow.offerTimeoutMs} CALL_TIMEOUT_MS=${p.slow.callTimeoutMs}\`; ${p.slow.warmupS} s warm-up, ${p.slow.durationS} s measured.`);
  L.push(`- **open**: ${p.open.rate} requests/s for ${p.open.durationS} s at the station (pace.ts, open loop), one rider per request, ${p.drivers} drivers within ${p.driverRadiusM} m.`, '');
  L.push('Offers, waves, `busy` and pickup distance are per dispatched call over the whole run (drivers\' counts); waves come from the dispatcher\'s `dispatch_waves_per_dispatch` where it has it, else from the drivers ' +
    '(distinct `expiresAt` among a won call\'s offers). Latencies p50 / p99 in ms over the calls requested in the window. CPU is % of one core over the window; CPU per call is CPU-ms per dispatched call in the window.', '');
  L.push('| scenario | strategy | dispatched/s | requested / dispatched / unfulfilled / stuck | request → offer | request → dispatched | offers | waves | busy | most live offers of a driver | mean pickup | errors | CPU (% of a core) | CPU ms per call |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const run of m.runs) {
    const d = derive(run);
    const r = run.riders;
    const errors = { ...r.errors, ...Object.fromEntries(Object.entries(run.drivers.acceptErrors).map(([k, v]) => [`accept:${k}`, v])), ...run.drivers.tripErrors };
    const errText = Object.entries(errors).map(([k, v]) => `${k}=${v}`).join(' ') || 'none';
    L.push(`| ${run.scenario} | ${run.variant} | ${fmt(d.perS)} | ${r.requested} / ${r.dispatched} / ${r.unfulfilled} / ${r.stuck} | ${pp(r.requestToOfferMs)} | ${pp(r.requestToDispatchedMs)} | ` +
      `${fmt(d.offers)} | ${fmt(d.waves)}${d.wavesFrom === 'drivers' ? ' (drivers)' : ''} | ${fmt(d.busy)} | ${run.drivers.maxLiveOffers} | ${fmt(d.pickupM, ' m')} | ${errText}${run.drivers.doubleTrips ? `; **double trips ${run.drivers.doubleTrips}**` : ''} | ${cpuCell(run)} | ${perCall(d)} |`);
  }
  const withRounds = m.runs.filter((x) => x.server.rounds);
  if (withRounds.length) {
    L.push('', `Rounds (dispatcher): ${withRounds.map((x) => `${x.scenario} ${x.variant}: ${fmt(x.server.rounds)} rounds, ${fmt(x.server.roundCallsMean)} calls and ${fmt(x.server.roundMsMean)} ms each`).join('; ')}.`);
  }
  if (m.replays.length) {
    L.push('', '**Quality**: the largest round of each batched burst (`MATCH_RECORD_FILE`), replayed offline through `assignGreedy` (each call in arrival order takes its nearest free driver) and `assignOptimal` (server/dispatch/assign.ts); the optimum is assignOptimal\'s. ' +
      'Matched = calls given a driver no earlier call had (greedy above cap 1 may head several waves with one driver; those are listed apart, not in the total).', '');
    L.push('| round | calls / drivers / candidate pairs | greedy: matched, total, mean, solve | optimal: matched, total, mean, solve | optimal / greedy |', '|---|---|---|---|---|');
    for (const x of m.replays) {
      if (x.none || !x.greedy || !x.optimal) {
        L.push(`| ${x.variant} burst | ${x.none ?? '-'} | - | - | - |`);
        continue;
      }
      const f = (q: NonNullable<typeof x.greedy>) => `${q.matched}${q.shared ? ` (+${q.shared} sharing a driver)` : ''}, ${fmt(q.totalDistanceM, ' m')}, ${fmt(q.meanDistanceM, ' m')}, ${q.solveMs} ms`;
      L.push(`| ${x.variant} burst | ${x.calls} / ${x.drivers} / ${x.candidates} | ${f(x.greedy)} | ${f(x.optimal)} | ${x.greedy.totalDistanceM ? r2(x.optimal.totalDistanceM / x.greedy.totalDistanceM) : '-'}× |`);
    }
  }
  const hb = find(m, 'hotspot', 'batched');
  if (hb) {
    const d = derive(hb);
    const total = Object.entries(d.cpuMsPerCall).reduce((a, [, v]) => a + v, 0);
    const worst = Object.entries(d.cpuMsPerCall).filter(([k]) => k !== 'load').sort((a, b) => b[1] - a[1])[0];
    L.push('', `**Moonshot** (≥ ${fmt(T.moonshotCallsPerS)} calls/s, hotspot closed loop, batched): ${fmt(hb.riders.dispatchedPerS)} calls/s, ` +
      `${hb.riders.dispatchedPerS >= T.moonshotCallsPerS ? 'met' : `**${fmt(Math.round(T.moonshotCallsPerS - hb.riders.dispatchedPerS))} calls/s short** (${r2(T.moonshotCallsPerS / Math.max(1, hb.riders.dispatchedPerS))}× to go)`}. ` +
      `CPU per dispatched call: ${perCall(d)} ms; ${r2(total)} ms in all (product + load), so the two cores allow at most ${total ? fmt(Math.round(2000 / total)) : '-'} calls/s at this cost` +
      `${worst ? `, and ${worst[0]} alone (one thread) at most ${fmt(Math.round(1000 / worst[1]))} calls/s` : ''}.`);
  }
  return L;
}
