/**
 * Issue 13: what the operator feed costs. One fresh stack (two gateways, one dispatcher, the
 * defaults: OPS_FEED_MS, OPS_SNAPSHOT_MAX), `drivers` online over both gateways and reporting their
 * position every 5 s (driver fleets in load workers, at most 10,000 sockets per worker), then load
 * steps at a fixed rate (`runLoad`, as the throughput scenario's steps: calls/s requested →
 * dispatched, p50/p99 request → dispatched), alternately with the console closed (A) and open (B:
 * admin sockets joined to the feed in a load worker of their own, consuming every `ops:delta`), in
 * the order A B, B A, … Per step: CPU per process from /proc over the calls (gateways, dispatcher,
 * Redis; Redis also from its INFO cpu), and in B what the admins received. Per phase: the steps
 * summed, and B against A in %.
 */
import type { FleetResult } from '../tasks/load.js';
import type { OpsAdminStats } from '../tasks/ops-admin.js';
import type { OpsFeedPlan } from './plan.js';
import { sleep } from './procs.js';
import type { PrivateRedis } from './redis.js';
import { loadStep, recovered, type BenchCtx, type StepResult } from './scenarios.js';
import { BENCH_SECRET } from './stack.js';
import type { LoadWorker, TaskHandle } from './workers.js';

export type OpsPhase = 'A' | 'B';

export interface OpsSegment {
  phase: OpsPhase;
  round: number;
  step: StepResult;
  /** Redis' own CPU over the calls (INFO cpu: used_cpu_user + used_cpu_sys), % of one core. */
  redisInfoPct: number | null;
  /** B: what each admin received while joined (null in A). */
  admins: OpsAdminStats[] | null;
}

export interface OpsPhaseSummary {
  phase: OpsPhase;
  steps: number;
  /** Seconds of calls measured (CPU windows summed). */
  seconds: number;
  /** % of one core per role, weighted by each step's window. */
  cpu: Record<string, number>;
  /** Every gateway together. */
  gatewaysPct: number;
  /** The gateway the first admin joins (gateway-1). */
  feedGatewayPct: number;
  redisInfoPct: number | null;
  others: number;
  machineBusy: number;
  requested: number;
  dispatched: number;
  /** Calls dispatched per second of calling (the steps' durations summed). */
  dispatchedPerS: number;
  requestedPerS: number;
  /** Request → dispatched, the steps' own p50 / p99 averaged (each step is one HDR histogram). */
  p50: number | null;
  p99: number | null;
  sustained: boolean;
  why: string[];
  /** B: per admin, per second joined; null in A. */
  feed: {
    deltasPerS: number;
    bytesPerS: number;
    driversPerDelta: number;
    driversPerS: number;
    gonePerS: number;
    callsPerS: number;
    maxBytes: number;
    maxDrivers: number;
    gapP50Ms: number | null;
    gapMaxMs: number | null;
    snapshotDrivers: number;
    snapshotBytes: number;
    snapshotTruncated: boolean;
  } | null;
}

export interface OpsFeedResult {
  plan: OpsFeedPlan;
  /** Drivers asked, and what the open-file limit let it have. */
  requested: number;
  capped: string | null;
  /** The drivers of the run measured below (fewer than asked when a larger number did not hold). */
  drivers: number;
  /** Every number of drivers tried, in order: whether it held (all online, the first step sustained), else why not. */
  tried: { drivers: number; online: number; held: boolean; why: string[] }[];
  fleets: { online: number; connectFailures: number; connectS: number; doubleTrips: number; errors: Record<string, number> }[];
  online: number;
  connectS: number;
  /** The product's settings that bear on it, as the stack ran them. */
  feedMs: number;
  snapshotMax: number;
  segments: OpsSegment[];
  a: OpsPhaseSummary;
  b: OpsPhaseSummary;
  /** B against A, in % (null where A is 0). */
  change: { feedGateway: number | null; gateways: number | null; dispatcher: number | null; redis: number | null; dispatchedPerS: number | null; p99: number | null };
}

const r1 = (v: number) => Math.round(v * 10) / 10;

async function redisCpuSeconds(redis: PrivateRedis): Promise<number | null> {
  try {
    const text = await redis.client.info('cpu');
    const user = /used_cpu_user:([\d.]+)/.exec(text);
    const sys = /used_cpu_sys:([\d.]+)/.exec(text);
    return user && sys ? Number(user[1]) + Number(sys[1]) : null;
  } catch {
    return null;
  }
}

export function changePct(a: number | null, b: number | null): number | null {
  if (a === null || b === null || a === 0) return null;
  return r1((100 * (b - a)) / a);
}

/** The steps of one phase summed: CPU weighted by window, calls summed, latency averaged. */
export function summarise(phase: OpsPhase, segs: OpsSegment[], phaseS: number): OpsPhaseSummary {
  const mine = segs.filter((s) => s.phase === phase);
  const withCpu = mine.filter((s) => s.step.cpu);
  const seconds = withCpu.reduce((x, s) => x + (s.step.cpu?.seconds ?? 0), 0);
  const weighted = (f: (s: OpsSegment) => number | null | undefined): number | null => {
    const xs = withCpu.filter((s) => f(s) !== null && f(s) !== undefined);
    const secs = xs.reduce((x, s) => x + (s.step.cpu?.seconds ?? 0), 0);
    return secs ? r1(xs.reduce((x, s) => x + (f(s) ?? 0) * (s.step.cpu?.seconds ?? 0), 0) / secs) : null;
  };
  const roles = [...new Set(withCpu.flatMap((s) => Object.keys(s.step.cpu?.byRole ?? {})))].sort();
  const cpu: Record<string, number> = {};
  for (const role of roles) cpu[role] = weighted((s) => s.step.cpu?.byRole[role] ?? 0) ?? 0;
  const gatewaysPct = r1(roles.filter((r) => r.startsWith('gateway')).reduce((x, r) => x + (cpu[r] ?? 0), 0));
  const durationS = mine.length * phaseS;
  const requested = mine.reduce((x, s) => x + s.step.load.report.calls.requested, 0);
  const dispatched = mine.reduce((x, s) => x + s.step.load.report.calls.dispatched, 0);
  const mean = (xs: (number | null)[]) => {
    const v = xs.filter((x): x is number => x !== null);
    return v.length ? r1(v.reduce((a, b) => a + b, 0) / v.length) : null;
  };
  const lat = mine.map((s) => s.step.load.report.latencyMs.requestToDispatched);
  let feed: OpsPhaseSummary['feed'] = null;
  const admins = mine.flatMap((s) => s.admins ?? []);
  if (phase === 'B' && admins.length) {
    const secs = admins.reduce((x, a) => x + a.seconds, 0) || 1e-9;
    const deltas = admins.reduce((x, a) => x + a.deltas, 0);
    const drivers = admins.reduce((x, a) => x + a.drivers, 0);
    const sum = (f: (a: OpsAdminStats) => number) => admins.reduce((x, a) => x + f(a), 0);
    feed = {
      deltasPerS: r1(deltas / secs),
      bytesPerS: Math.round(sum((a) => a.bytes) / secs),
      driversPerDelta: deltas ? r1(drivers / deltas) : 0,
      driversPerS: r1(drivers / secs),
      gonePerS: r1(sum((a) => a.gone) / secs),
      callsPerS: r1(sum((a) => a.calls) / secs),
      maxBytes: Math.max(0, ...admins.map((a) => a.maxBytes)),
      maxDrivers: Math.max(0, ...admins.map((a) => a.maxDrivers)),
      gapP50Ms: mean(admins.map((a) => a.gapMs.p50)),
      gapMaxMs: admins.some((a) => a.gapMs.max !== null) ? Math.max(...admins.map((a) => a.gapMs.max ?? 0)) : null,
      snapshotDrivers: Math.max(0, ...admins.map((a) => a.snapshot.drivers)),
      snapshotBytes: Math.max(0, ...admins.map((a) => a.snapshot.bytes)),
      snapshotTruncated: admins.some((a) => a.snapshot.truncatedDrivers),
    };
  }
  const w = (f: (s: OpsSegment) => number | null | undefined) => weighted(f) ?? 0;
  return {
    phase, steps: mine.length, seconds: r1(seconds), cpu, gatewaysPct, feedGatewayPct: cpu['gateway-1'] ?? 0,
    redisInfoPct: weighted((s) => s.redisInfoPct),
    others: w((s) => s.step.cpu?.others), machineBusy: w((s) => s.step.cpu?.machineBusy),
    requested, dispatched,
    dispatchedPerS: durationS ? r1(dispatched / durationS) : 0,
    requestedPerS: durationS ? r1(requested / durationS) : 0,
    p50: mean(lat.map((p) => p.p50)), p99: mean(lat.map((p) => p.p99)),
    sustained: mine.every((s) => s.step.sustained),
    why: [...new Set(mine.flatMap((s) => s.step.why))],
    feed,
  };
}

/** What says the stack did not hold a step (beyond being slow): calls failed, unfulfilled, lost, assigned twice. */
export function brokenCalls(step: StepResult): string[] {
  return step.why.filter((w) => !w.startsWith('only ') && !w.startsWith('p99 '));
}

/** How the drivers are spread over load processes (`ulimit -n` is per process). */
function shares(n: number, fdLimit: number): number[] {
  const perWorker = Math.max(1, Math.min(fdLimit - 1000, 10_000));
  const workers = Math.max(1, Math.ceil(n / perWorker));
  return Array.from({ length: workers }, (_, i) => Math.floor(n / workers) + (i < n % workers ? 1 : 0));
}

export async function opsFeed(ctx: BenchCtx): Promise<OpsFeedResult> {
  const p = ctx.plan.opsFeed;
  let drivers = p.drivers;
  let capped: string | null = null;
  const perGatewayMax = ctx.fdLimit - 1000;
  if (Math.ceil(drivers / 2) > perGatewayMax) {
    drivers = perGatewayMax * 2;
    capped = `open-file limit ${ctx.fdLimit} per process: at most ${perGatewayMax} sockets per gateway, ${drivers} drivers in all`;
  }
  // A stack of its own: what other scenarios leave (drivers in their grace period, queued jobs) is not the feed's.
  const stack = await ctx.restartStack();
  const feedMs = Number(stack.env.OPS_FEED_MS ?? 500);
  const snapshotMax = Number(stack.env.OPS_SNAPSHOT_MAX ?? 20000);
  const adminUrls = Array.from({ length: Math.max(1, p.admins) }, (_, i) => stack.urls[i % stack.urls.length] as string);

  /** One go at `n` drivers; `mayGiveUp`: stop at the first sign that the machine does not hold them. */
  const runAt = async (n: number, mayGiveUp: boolean) => {
    const parts = shares(n, ctx.fdLimit);
    ctx.log(`ops-feed: ${n} drivers over ${stack.urls.length} gateways (${parts.length} load processes), a position every ${p.locationEveryMs / 1000} s`);
    const t0 = performance.now();
    const fleets = parts.map((count, i) => ctx.worker(i + 1).run('fleet', {
      urls: stack.urls, secret: BENCH_SECRET, count, prefix: `of${n}x${i}`, spreadM: 10_000, locationEveryMs: p.locationEveryMs, connectConcurrency: 200,
    }));
    const segments: OpsSegment[] = [];
    let connectS = 0;
    let online = 0;
    let why: string[] = [];
    try {
      const ready = (await Promise.all(fleets.map((h) => h.event('ready')))) as { online: number }[];
      connectS = r1((performance.now() - t0) / 1000);
      online = ready.reduce((x, r) => x + r.online, 0);
      ctx.log(`  → ${online} drivers online in ${connectS} s; warming up ${p.warmupS} s`);
      if (online < n * 0.99) {
        why = [`only ${online} of ${n} drivers came online`];
        if (mayGiveUp) return { n, segments, connectS, online, why, held: false };
      }
      await sleep(p.warmupS * 1000);
      const adminWorker = ctx.worker(parts.length + 1);
      for (let round = 0; round < p.rounds; round++) {
        const order: OpsPhase[] = round % 2 === 0 ? ['A', 'B'] : ['B', 'A'];
        for (const phase of order) {
          segments.push(await segment(phase, round, adminWorker));
          // Slow (the rate not reached, p99 over 2 s) is the machine at its capacity, measured as such;
          // calls failing, lost or unfulfilled with the console closed is the drivers not held.
          const first = segments[0] as OpsSegment;
          const broken = brokenCalls(first.step);
          if (segments.length === 1 && broken.length) {
            why = [...why, ...broken];
            if (mayGiveUp) return { n, segments, connectS, online, why, held: false };
          }
          // The feed stops on its next tick, P:ops:watched expires (3 × OPS_FEED_MS), the taps see it within a second.
          if (segments.length < 2 * p.rounds) await sleep(Math.max(3000, 3 * feedMs + 1500));
        }
      }
      return { n, segments, connectS, online, why, held: why.length === 0 };
    } finally {
      for (const h of fleets) h.stop();
      // (the fleets' results are read by the caller through `done`)
      done = (await Promise.allSettled(fleets.map((h) => h.result))).flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    }
  };
  let done: FleetResult[] = [];

  const segment = async (phase: OpsPhase, round: number, adminWorker: LoadWorker): Promise<OpsSegment> => {
    let admin: TaskHandle<OpsAdminStats[]> | undefined;
    if (phase === 'B') {
      admin = adminWorker.run('opsAdmin', { urls: adminUrls, secret: BENCH_SECRET, prefix: `ops${round}` });
      await admin.event('joined');
      // Every process reads P:ops:watched at most once a second: the feed and the taps are on before the calls.
      await sleep(Math.max(1500, 2 * feedMs));
    }
    ctx.log(`ops-feed: round ${round + 1}/${p.rounds}, console ${phase === 'B' ? `open (${adminUrls.length} admin${adminUrls.length > 1 ? 's' : ''})` : 'closed'}, ${p.rate} calls/s for ${p.phaseS} s`);
    let cpu0: number | null = null;
    let cpu1: number | null = null;
    let t1 = 0;
    let t2 = 0;
    let step: StepResult;
    try {
      step = await loadStep(ctx, p.rate, p.phaseS, p.drainMs, {
        whileRunning: async () => {
          t1 = performance.now();
          cpu0 = await redisCpuSeconds(ctx.redis);
        },
        onDraining: async () => {
          t2 = performance.now();
          cpu1 = await redisCpuSeconds(ctx.redis);
        },
      });
    } finally {
      admin?.stop();
    }
    const admins = admin ? await admin.result : null;
    const c0: number | null = cpu0;
    const c1: number | null = cpu1;
    const redisInfoPct = c0 !== null && c1 !== null && t2 > t1 ? r1((100 * (c1 - c0)) / ((t2 - t1) / 1000)) : null;
    const lat = step.load.report.latencyMs.requestToDispatched;
    const gw = Object.entries(step.cpu?.byRole ?? {}).filter(([r]) => r.startsWith('gateway')).map(([r, v]) => `${r} ${v}`).join(', ');
    ctx.log(`  → ${step.load.report.calls.dispatched}/${step.load.report.calls.requested} dispatched, p50/p99 ${lat.p50 ?? '-'}/${lat.p99 ?? '-'} ms, CPU ${gw}` +
      `${admins ? `; deltas ${admins.map((a) => `${a.deltas} (${Math.round(a.bytes / Math.max(a.seconds, 1e-9) / 1024)} KiB/s)`).join(', ')}` : ''}` +
      `${step.sustained ? '' : `; not sustained: ${step.why.join('; ')}`}`);
    return { phase, round, step, redisInfoPct, admins };
  };

  // The drivers asked for, then (when that does not hold and the plan allows) half as many, and so on.
  const tried: OpsFeedResult['tried'] = [];
  let run = await runAt(drivers, p.fallbacks > 0);
  tried.push({ drivers: run.n, online: run.online, held: run.held, why: run.why });
  for (let k = 1; !run.held && k <= p.fallbacks; k++) {
    const next = Math.max(1, Math.floor(run.n / 2));
    ctx.log(`  → ${run.n} drivers did not hold (${run.why.join('; ')}); again with ${next}`);
    // Thousands of drivers signing off keep the gateways busy a few seconds: the next go starts once they answer promptly.
    await recovered(stack.urls, 60);
    run = await runAt(next, k < p.fallbacks);
    tried.push({ drivers: run.n, online: run.online, held: run.held, why: run.why });
  }
  const { segments, connectS, online } = run;
  const fleetResults = done;
  await ctx.stopStack();
  const a = summarise('A', segments, p.phaseS);
  const b = summarise('B', segments, p.phaseS);
  return {
    plan: p, requested: p.drivers, capped, drivers: run.n, tried,
    fleets: fleetResults.map((f) => ({ online: f.online, connectFailures: f.connectFailures, connectS: f.connectS, doubleTrips: f.doubleTrips, errors: f.errors })),
    online, connectS, feedMs, snapshotMax, segments, a, b,
    change: {
      feedGateway: changePct(a.feedGatewayPct, b.feedGatewayPct),
      gateways: changePct(a.gatewaysPct, b.gatewaysPct),
      dispatcher: changePct(a.cpu['dispatcher-1'] ?? null, b.cpu['dispatcher-1'] ?? null),
      redis: changePct(a.cpu.redis ?? null, b.cpu.redis ?? null),
      dispatchedPerS: changePct(a.dispatchedPerS, b.dispatchedPerS),
      p99: changePct(a.p99, b.p99),
    },
  };
}
