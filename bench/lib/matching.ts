/**
 * Issue 11's scenarios: the same loads at Seoul Station under greedy matching (the old behaviour)
 * and batched matching, each on a fresh stack (new KEY_PREFIX). Drivers run in one load worker,
 * riders in another (bench/tasks/match-*.ts); the CPU of every process is read over the riders'
 * measured window; the dispatcher's own figures come from /metrics where the server has them.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MatchDriversArgs, MatchDriversResult } from '../tasks/match-drivers.js';
import type { MatchRidersArgs, MatchRidersResult } from '../tasks/match-riders.js';
import { STATION, VARIANTS, type MatchPlan, type MatchScenario, type Variant } from './match-plan.js';
import { CpuWindow, dropTempDir, trackTempDir, type CpuShare } from './procs.js';
import { replayRound, type Replay } from './replay.js';
import type { BenchCtx } from './scenarios.js';
import { BENCH_SECRET, metric, type ProductStack } from './stack.js';

/** What the servers say (null: the metric does not exist there, e.g. the old server). */
export interface ServerFigures {
  offers: number | null;
  wavesPerDispatch: number | null;
  revokedBusy: number | null;
  rounds: number | null;
  roundCallsMean: number | null;
  roundMsMean: number | null;
}

export interface MatchRun {
  scenario: MatchScenario;
  variant: Variant;
  env: Record<string, string>;
  riders: MatchRidersResult;
  drivers: MatchDriversResult;
  cpu: CpuShare | null;
  server: ServerFigures;
}

export interface MatchingResult {
  runs: MatchRun[];
  replays: Replay[];
}

interface Shape {
  env?: Record<string, string>;
  drivers: Pick<MatchDriversArgs, 'count' | 'radiusM' | 'answerDelayMs' | 'silentShare'>;
  riders: Pick<MatchRidersArgs, 'count' | 'pickupRadiusM' | 'shape' | 'callDeadlineMs'>;
}

function shapeOf(p: MatchPlan, s: MatchScenario): Shape {
  const drivers = { count: p.drivers, radiusM: p.driverRadiusM, answerDelayMs: [0, 0] as [number, number], silentShare: 0 };
  const closed = { kind: 'closed' as const, warmupS: p.warmupS, durationS: p.durationS };
  const loop = { count: p.riders, pickupRadiusM: p.hotspotRadiusM, shape: closed, callDeadlineMs: p.callDeadlineMs };
  switch (s) {
    case 'hotspot':
      return { drivers, riders: loop };
    case 'spread':
      return { drivers, riders: { ...loop, pickupRadiusM: p.spreadRadiusM } };
    case 'burst': {
      const b = p.burst;
      return {
        drivers: { ...drivers, radiusM: b.driverRadiusM },
        riders: { count: b.calls, pickupRadiusM: p.hotspotRadiusM, shape: { kind: 'paced', rate: b.calls / b.overS, durationS: b.overS }, callDeadlineMs: b.deadlineMs },
      };
    }
    case 'slow': {
      const w = p.slow;
      return {
        env: { OFFER_TIMEOUT_MS: String(w.offerTimeoutMs), CALL_TIMEOUT_MS: String(w.callTimeoutMs) },
        drivers: { ...drivers, answerDelayMs: w.answerDelayMs, silentShare: w.silentShare },
        riders: { ...loop, shape: { kind: 'closed', warmupS: w.warmupS, durationS: w.durationS }, callDeadlineMs: w.callDeadlineMs },
      };
    }
    case 'open': {
      const o = p.open;
      const calls = Math.ceil(o.rate * o.durationS);
      return { drivers, riders: { count: calls, pickupRadiusM: p.hotspotRadiusM, shape: { kind: 'paced', rate: o.rate, durationS: o.durationS }, callDeadlineMs: o.deadlineMs } };
    }
  }
}

export const variantsOf = (s: MatchScenario): Variant[] => (s === 'burst' ? ['greedy', 'batched', 'batched cap 3'] : ['greedy', 'batched']);

async function sumMetric(stack: ProductStack, name: string): Promise<number | null> {
  const v = await Promise.all(stack.all().map((p) => metric(p.url, name)));
  return v.every((x) => x === null) ? null : v.reduce<number>((a, b) => a + (b ?? 0), 0);
}

async function serverFigures(stack: ProductStack): Promise<ServerFigures> {
  const [offers, wSum, wCount, busy, rCount, rCalls, rSecs] = await Promise.all([
    sumMetric(stack, 'dispatch_offers_total'),
    sumMetric(stack, 'dispatch_waves_per_dispatch_sum'),
    sumMetric(stack, 'dispatch_waves_per_dispatch_count'),
    sumMetric(stack, 'dispatch_offers_revoked_total\\{reason="busy"\\}'),
    sumMetric(stack, 'dispatch_match_round_calls_count'),
    sumMetric(stack, 'dispatch_match_round_calls_sum'),
    sumMetric(stack, 'dispatch_match_round_seconds_sum'),
  ]);
  const mean = (s: number | null, c: number | null, k = 1) => (s !== null && c ? Math.round((k * s * 100) / c) / 100 : null);
  return {
    offers, revokedBusy: busy, rounds: rCount,
    wavesPerDispatch: mean(wSum, wCount), roundCallsMean: mean(rCalls, rCount), roundMsMean: mean(rSecs, rCount, 1000),
  };
}

let seq = 0;

async function runOne(ctx: BenchCtx, scenario: MatchScenario, variant: Variant, recordFile?: string): Promise<MatchRun> {
  const shape = shapeOf(ctx.plan.matching, scenario);
  const env: Record<string, string> = { ...VARIANTS[variant], ...shape.env, ...(recordFile ? { MATCH_RECORD_FILE: recordFile } : {}) };
  ctx.log(`matching: ${scenario}, ${variant} (${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')})`);
  const t0 = performance.now();
  const stack = await ctx.restartStack({ env });
  const up = performance.now();
  const tag = `m${++seq}`;
  const common = { urls: stack.urls, secret: BENCH_SECRET, center: STATION };
  const d = ctx.worker(1).run('matchDrivers', { ...common, prefix: `${tag}d`, ...shape.drivers });
  let riders: MatchRidersResult;
  let cpu: CpuShare | null = null;
  let server: ServerFigures;
  try {
    await d.event('ready');
    ctx.log(`  stack up in ${((up - t0) / 1000).toFixed(1)} s, ${shape.drivers.count} drivers online in ${((performance.now() - up) / 1000).toFixed(1)} s`);
    const r = ctx.worker(0).run('matchRiders', { ...common, prefix: `${tag}r`, ...shape.riders });
    try {
      await r.event('measuring');
      const w = new CpuWindow(() => ctx.roles());
      await r.event('measured');
      cpu = w.stop();
    } catch {
      // the task failed: its result says why
    }
    riders = await r.result;
    server = await serverFigures(stack);
  } finally {
    d.stop();
  }
  const drivers = await d.result;
  const busy = drivers.revoked.busy ?? 0;
  ctx.log(`  → ${riders.dispatchedPerS} dispatched/s; request → dispatched p50/p99 ${riders.requestToDispatchedMs.p50 ?? '-'}/${riders.requestToDispatchedMs.p99 ?? '-'} ms; ` +
    `offers ${drivers.offers}, busy ${busy}, won ${drivers.won}; stuck ${riders.stuck}`);
  return { scenario, variant, env, riders, drivers, cpu, server };
}

export async function matching(ctx: BenchCtx): Promise<MatchingResult> {
  const out: MatchingResult = { runs: [], replays: [] };
  const dir = trackTempDir(mkdtempSync(join(tmpdir(), 'dispatch-bench-rounds-')));
  try {
    for (const scenario of ctx.plan.matching.scenarios) {
      for (const variant of variantsOf(scenario)) {
        const record = scenario === 'burst' && variant !== 'greedy' ? join(dir, `${variant.replace(/ /g, '-')}.json`) : undefined;
        out.runs.push(await runOne(ctx, scenario, variant, record));
        if (record) {
          const replay = await replayRound(variant, record);
          ctx.log(`  → replayed round: ${replay.none ?? `${replay.calls} calls; greedy ${replay.greedy?.totalDistanceM} m, optimal ${replay.optimal?.totalDistanceM} m`}`);
          out.replays.push(replay);
        }
      }
    }
  } finally {
    await ctx.stopStack();
    dropTempDir(dir);
  }
  return out;
}
