/**
 * The scenarios of the issue, each next to its raw baselines measured in the same run with the same
 * client counts. Each returns plain data; bench/lib/report.ts turns it into the table.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadResult } from '../tasks/load.js';
import type { ConsumeResult } from '../tasks/raw-bullmq.js';
import type { ContentionResult } from '../tasks/contention.js';
import type { IdleResult, RawResult } from '../tasks/raw-sio.js';
import type { RestResult } from '../tasks/rest.js';
import type { OpSummary, Mode as PaceMode } from './pace.js';
import {
  BENIGN_ERRORS, LOAD_DEFAULTS, loadSize, SUSTAIN, type Plan,
} from './plan.js';
import { lagEnd, lagStart, type LagByRole } from './lag.js';
import { CpuWindow, ROOT, type CpuShare } from './procs.js';
import { monotonicUs, summariseFile, type ProfileSummary, type Window } from './profile.js';
import { rawHeap, startRawHttp, type RawServer } from './raw.js';
import { commandStats, resetStats, type CommandStat, type PrivateRedis } from './redis.js';
import {
  BENCH_SECRET, metric, productHeap, type ProductStack, type StackOptions,
} from './stack.js';
import type { LoadWorker } from './workers.js';

export interface BenchCtx {
  plan: Plan;
  redis: PrivateRedis;
  /** Two plain Socket.IO servers on the Redis adapter, and plain HTTP servers (started by REST). */
  raw: { a: RawServer; b: RawServer; http: RawServer[] };
  /** Where raw baselines keep their Redis data (another database of the same server). */
  rawRedisUrl: string;
  /** Load worker i (started on first use). */
  worker(i: number): LoadWorker;
  stack: ProductStack | undefined;
  /** Stop the current product stack (if any) and start a fresh one (new KEY_PREFIX). */
  restartStack(opts?: Partial<StackOptions>): Promise<ProductStack>;
  stopStack(): Promise<void>;
  /** The current stack if it runs the defaults (not the contention settings), else a fresh one. */
  mainStack(): Promise<ProductStack>;
  /** Pids by role, for CPU accounting. */
  roles(): Record<string, number[]>;
  log(msg: string): void;
  profDir: string;
  fdLimit: number;
}

const withCpu = async <T>(ctx: BenchCtx, work: () => Promise<T>): Promise<T & { cpu: CpuShare }> => {
  const w = new CpuWindow(() => ctx.roles());
  const r = await work();
  return { ...r, cpu: w.stop() };
};

let rawSeq = 0;

// ---- raw pieces ---------------------------------------------------------------------------

export interface RawBullmq {
  produce: OpSummary;
  consume: ConsumeResult;
  cpu: CpuShare;
}

async function rawBullmq(ctx: BenchCtx, mode: PaceMode): Promise<RawBullmq> {
  const prefix = `rawb${++rawSeq}`;
  const consumer = ctx.worker(1).run('rawBullmqConsume', { redisUrl: ctx.rawRedisUrl, prefix, concurrency: 50 });
  await consumer.event('ready');
  return withCpu(ctx, async () => {
    const produce = await ctx.worker(0).run('rawBullmqProduce', { redisUrl: ctx.rawRedisUrl, prefix, mode }).result;
    consumer.stop();
    return { produce, consume: await consumer.result };
  });
}

async function rawEvalsha(ctx: BenchCtx, mode: PaceMode): Promise<OpSummary & { cpu: CpuShare }> {
  const prefix = `rawe${++rawSeq}`;
  try {
    return await withCpu(ctx, () => ctx.worker(0).run('rawEvalsha', { redisUrl: ctx.rawRedisUrl, prefix, mode }).result);
  } finally {
    await flushRaw(ctx);
  }
}

/** Empty the raw baselines' database (never the product's). */
async function flushRaw(ctx: BenchCtx): Promise<void> {
  const db = Number(new URL(ctx.rawRedisUrl).pathname.slice(1));
  const c = ctx.redis.client.duplicate({ db });
  try {
    await c.flushdb('ASYNC');
  } finally {
    c.disconnect();
  }
}

/** Emit-with-ack: the measuring clients spread over both raw servers. */
const rawAck = (ctx: BenchCtx, clients: number, mode: PaceMode) =>
  withCpu(ctx, () => ctx.worker(0).run('rawAck', { urls: [ctx.raw.a.url, ctx.raw.b.url], clients, mode }).result);

const rawRoom = (ctx: BenchCtx, clients: number, mode: PaceMode) =>
  withCpu(ctx, () => ctx.worker(0).run('rawRoom', { fromUrl: ctx.raw.a.url, toUrl: ctx.raw.b.url, clients, mode }).result);

/** Close the measuring clients of a scenario. */
const rawRelease = (ctx: BenchCtx) => ctx.worker(0).run('rawRelease', undefined).result;

// ---- capacity -----------------------------------------------------------------------------

export interface CapacityResult {
  ack: RawResult & { cpu: CpuShare };
  room: RawResult & { cpu: CpuShare };
  bullmq: RawBullmq;
  evalsha: OpSummary & { cpu: CpuShare };
}

/** Each raw piece flat out (closed loop): what the stack itself can do on this machine. */
export async function capacity(ctx: BenchCtx): Promise<CapacityResult> {
  const p = ctx.plan.capacity;
  const mode: PaceMode = { kind: 'saturate', concurrency: p.concurrency, durationS: p.durationS };
  ctx.log(`capacity: raw Socket.IO ack, ${p.clients} clients, ${p.concurrency} in flight, ${p.durationS} s`);
  const ack = await rawAck(ctx, p.clients, mode);
  ctx.log('capacity: raw cross-node room emit');
  const room = await rawRoom(ctx, p.clients, mode);
  await rawRelease(ctx);
  ctx.log('capacity: raw BullMQ add → process');
  const bullmq = await rawBullmq(ctx, { kind: 'saturate', concurrency: 50, durationS: p.durationS });
  ctx.log('capacity: raw EVALSHA (accept-shaped)');
  const evalsha = await rawEvalsha(ctx, { kind: 'saturate', concurrency: 50, durationS: p.durationS });
  return { ack, room, bullmq, evalsha };
}

// ---- product load steps -------------------------------------------------------------------

export interface StepResult {
  rate: number;
  drivers: number;
  riders: number;
  load: LoadResult;
  sustained: boolean;
  /** Why it is not sustained. */
  why: string[];
  cpu: CpuShare | null;
  /** Event-loop delay per process role while calls were made (ms): who was starved. */
  lag: LagByRole;
  redisTop: CommandStat[];
}

/** Judge one run of runLoad: sustained, or the reasons it is not. */
export function judge(rate: number, r: LoadResult): string[] {
  const why: string[] = [];
  const c = r.report.calls;
  const inv = r.report.invariants;
  if (inv.doubleAssignments > 0) why.push(`${inv.doubleAssignments} double assignments`);
  // runLoad's lostCalls: acked, neither dispatched nor ended when its bounded drain ran out.
  if (inv.lostCalls > 0) why.push(`${inv.lostCalls} calls neither dispatched nor ended when the drain ran out (lostCalls)`);
  if (c.failed > 0) why.push(`${c.failed} requests failed`);
  if (c.unfulfilled > 0) why.push(`${c.unfulfilled} calls unfulfilled`);
  const undispatched = c.requested - c.dispatched - inv.lostCalls - c.failed;
  if (undispatched > 0) why.push(`${undispatched} more calls not dispatched`);
  if (r.achievedRate < rate * SUSTAIN.minAchieved) why.push(`only ${r.achievedRate} calls/s could be requested (riders waiting on slow rides)`);
  const p99 = r.report.latencyMs.requestToDispatched.p99;
  if (p99 === null || p99 > SUSTAIN.maxP99DispatchMs) why.push(`p99 request → dispatched ${p99 ?? '-'} ms > ${SUSTAIN.maxP99DispatchMs} ms`);
  const bad = Object.entries(r.report.errors).filter(([code]) => !BENIGN_ERRORS.has(code));
  if (bad.length) why.push(`errors ${bad.map(([code, n]) => `${code}=${n}`).join(' ')}`);
  return why;
}

export async function loadStep(
  ctx: BenchCtx, rate: number, durationS: number, drainMs: number,
  extra: { drivers?: number; riders?: number; whileRunning?: () => Promise<void>; onDraining?: () => Promise<void> } = {},
): Promise<StepResult> {
  const stack = ctx.stack;
  if (!stack) throw new Error('no product stack');
  const size = { ...loadSize(rate), ...(extra.drivers ? { drivers: extra.drivers } : {}), ...(extra.riders ? { riders: extra.riders } : {}) };
  await resetStats(ctx.redis.client);
  const h = ctx.worker(0).run('load', {
    urls: stack.urls, secret: BENCH_SECRET, drivers: size.drivers, riders: size.riders, rate, durationS, drainMs, ...LOAD_DEFAULTS,
  }, (durationS + drainMs / 1000 + 300) * 1000);
  let cpu: CpuShare | null = null;
  let lag: LagByRole = {};
  try {
    await h.event('running');
    const w = new CpuWindow(() => ctx.roles());
    lagStart(ctx.roles());
    if (extra.whileRunning) await extra.whileRunning().catch(() => undefined);
    await h.event('draining').catch(() => undefined);
    cpu = w.stop();
    if (extra.onDraining) await extra.onDraining().catch(() => undefined);
    lag = await lagEnd(ctx.roles());
  } catch {
    // the task failed before running: its result says why
  }
  const load = await h.result;
  const why = judge(rate, load);
  return { rate, drivers: size.drivers, riders: size.riders, load, sustained: why.length === 0, why, cpu, lag, redisTop: await commandStats(ctx.redis.client, 8) };
}

// ---- 1. throughput ------------------------------------------------------------------------

export interface ThroughputResult {
  steps: StepResult[];
  /** Highest step rate sustained (0 if none). */
  maxSustained: number;
  /** The first rate not sustained (to profile), if any. */
  firstFailing: number | null;
}

export async function throughput(ctx: BenchCtx): Promise<ThroughputResult> {
  const p = ctx.plan.throughput;
  await ctx.mainStack();
  const steps: StepResult[] = [];
  const run = async (rate: number) => {
    ctx.log(`throughput: ${rate} calls/s for ${p.durationS} s`);
    const s = await loadStep(ctx, rate, p.durationS, p.drainMs);
    ctx.log(`  → ${s.sustained ? 'sustained' : `not sustained: ${s.why.join('; ')}`} (p99 request → dispatched ${s.load.report.latencyMs.requestToDispatched.p99 ?? '-'} ms)`);
    steps.push(s);
    return s.sustained;
  };
  let lastGood = 0;
  let firstBad: number | null = null;
  for (const rate of p.steps) {
    if (await run(rate)) lastGood = rate;
    else {
      firstBad = rate;
      break;
    }
  }
  if (firstBad !== null && lastGood === 0) {
    let rate = firstBad;
    for (let i = 0; i < p.downSteps && lastGood === 0; i++) {
      rate = Math.max(1, Math.floor(rate / 2));
      if (await run(rate)) lastGood = rate;
    }
  } else if (firstBad !== null && p.bisect) {
    const mid = Math.round((lastGood + firstBad) / 2 / 10) * 10;
    if (mid > lastGood && mid < firstBad && (await run(mid))) lastGood = mid;
  }
  return { steps, maxSustained: lastGood, firstFailing: firstBad };
}

// ---- 2. latency ---------------------------------------------------------------------------

export interface LatencyResult {
  rate: number;
  clients: number;
  raw: { ack: RawResult & { cpu: CpuShare }; room: RawResult & { cpu: CpuShare }; bullmq: RawBullmq; evalsha: OpSummary & { cpu: CpuShare } };
  product: StepResult;
  /** 2 × (BullMQ p99 + cross-node emit p99), and 2 × cross-node emit p99 (ms). */
  bounds: { requestToOffer: number | null; acceptToRider: number | null };
}

export async function latency(ctx: BenchCtx): Promise<LatencyResult> {
  const p = ctx.plan.latency;
  const size = loadSize(p.rate);
  const clients = size.drivers + size.riders;
  const mode: PaceMode = { kind: 'rate', rate: p.rate, durationS: p.rawDurationS };
  ctx.log(`latency: raw baselines at ${p.rate}/s with ${clients} clients`);
  const ack = await rawAck(ctx, clients, mode);
  const room = await rawRoom(ctx, clients, mode);
  await rawRelease(ctx);
  const bullmq = await rawBullmq(ctx, mode);
  const evalsha = await rawEvalsha(ctx, mode);
  ctx.log(`latency: product at ${p.rate} calls/s for ${p.durationS} s`);
  await ctx.mainStack();
  const product = await loadStep(ctx, p.rate, p.durationS, p.drainMs);
  ctx.log(`  → p99 request → offer ${product.load.report.latencyMs.requestToOffer.p99 ?? '-'} ms, accept → rider ${product.load.report.latencyMs.acceptToRider.p99 ?? '-'} ms`);
  const bp = bullmq.consume.latencyMs.p99;
  const rp = room.latencyMs.p99;
  return {
    rate: p.rate, clients, raw: { ack, room, bullmq, evalsha }, product,
    bounds: { requestToOffer: bp !== null && rp !== null ? Math.round(20 * (bp + rp)) / 10 : null, acceptToRider: rp !== null ? Math.round(20 * rp) / 10 : null },
  };
}

// ---- 3. contention ------------------------------------------------------------------------

export interface ContentionScenario {
  groups: number;
  driversPerCall: number;
  calls: number;
  raw: { ack: RawResult & { cpu: CpuShare }; evalsha: OpSummary & { cpu: CpuShare } };
  product: ContentionResult & { cpu: CpuShare };
}

export async function contention(ctx: BenchCtx): Promise<ContentionScenario> {
  const c = ctx.plan.contention;
  const calls = c.groups * c.callsPerGroup;
  const burst: PaceMode = { kind: 'burst', groups: c.groups, size: c.driversPerCall, rounds: Math.min(c.rawRounds, c.callsPerGroup) };
  ctx.log(`contention: raw bursts of ${c.driversPerCall} × ${c.groups} groups × ${burst.rounds} rounds`);
  const ack = await rawAck(ctx, c.groups * (c.driversPerCall + 1), burst);
  await rawRelease(ctx);
  const evalsha = await rawEvalsha(ctx, burst);
  ctx.log(`contention: product stack with OFFER_WAVE_SIZE=${c.driversPerCall}; ${calls} calls, ${c.driversPerCall} drivers racing for each`);
  const wave = String(c.driversPerCall);
  let stack = ctx.stack;
  if (!stack) stack = await ctx.restartStack({ env: { OFFER_WAVE_SIZE: wave } });
  else if (stack.env.OFFER_WAVE_SIZE !== wave) await stack.replaceDispatchers({ OFFER_WAVE_SIZE: wave });
  const urls = stack.urls;
  const product = await withCpu(ctx, () => ctx.worker(0).run('contention', {
    urls, secret: BENCH_SECRET, groups: c.groups, callsPerGroup: c.callsPerGroup, driversPerCall: c.driversPerCall,
  }).result);
  ctx.log(`  → ${product.exactlyOne}/${product.calls} calls with exactly one winner; p99 accept ack ${product.acceptAckMs.p99 ?? '-'} ms`);
  return { groups: c.groups, driversPerCall: c.driversPerCall, calls, raw: { ack, evalsha }, product };
}

// ---- 4. connections -----------------------------------------------------------------------

const RECOVERY_LIMIT_S = 60;

/**
 * Seconds until every gateway answers /readyz within 100 ms, three times in a row (its event loop
 * is free again), or null after `limitS`.
 */
export async function recovered(urls: string[], limitS: number): Promise<number | null> {
  const t0 = performance.now();
  let streak = 0;
  while (performance.now() - t0 < limitS * 1000) {
    const ok = await Promise.all(urls.map(async (u) => {
      const t = performance.now();
      const res = await fetch(`${u}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
      return res?.status === 200 && performance.now() - t <= 100;
    }));
    streak = ok.every(Boolean) ? streak + 1 : 0;
    if (streak >= 3) return Math.round((performance.now() - t0) / 100) / 10;
    await new Promise((r) => setTimeout(r, 250));
  }
  return null;
}

export interface ConnectionsResult {
  requested: number;
  /** After the drivers signed off: seconds until the gateways answered promptly again (null: not within the limit). */
  recoveryS: number | null;
  /** CPU while they recovered. */
  afterStopCpu: CpuShare;
  /** Sockets the plan asked for, and what the file-descriptor limit let it have. */
  fdLimit: number;
  capped: string | null;
  loadWorkers: number;
  /** null when the plan skips the raw twin (quick runs). */
  raw: {
    connected: number;
    connectS: number;
    heapPerSocketKB: number | null;
    ack: RawResult & { cpu: CpuShare };
    room: RawResult & { cpu: CpuShare };
    idle: IdleResult[];
    held: Held | null;
  } | null;
  product: {
    connected: number;
    connectS: number;
    /** Sockets the gateways count (dispatch_sockets). */
    gatewaySockets: number | null;
    heapBeforeMB: number | null;
    heapAfterMB: number | null;
    heapPerSocketKB: number | null;
    /** Every socket up, positions every few seconds, no call. */
    held: Held | null;
    step: StepResult;
    fleets: { online: number; connectFailures: number; doubleTrips: number; errors: Record<string, number> }[];
  };
}

/** A few seconds with every socket up and nothing else: the CPU and event-loop delay of holding them. */
export interface Held {
  seconds: number;
  cpu: CpuShare;
  lag: LagByRole;
}

async function held(ctx: BenchCtx, seconds: number): Promise<Held | null> {
  if (seconds <= 0) return null;
  const w = new CpuWindow(() => ctx.roles());
  lagStart(ctx.roles());
  await new Promise((r) => setTimeout(r, seconds * 1000));
  return { seconds, cpu: w.stop(), lag: await lagEnd(ctx.roles()) };
}

async function sumOf(values: Promise<number | null>[]): Promise<number | null> {
  const v = await Promise.all(values);
  return v.some((x) => x === null) ? null : v.reduce<number>((a, b) => a + (b ?? 0), 0);
}

export async function connections(ctx: BenchCtx): Promise<ConnectionsResult> {
  const c = ctx.plan.connections;
  let sockets = c.sockets;
  let capped: string | null = null;
  // Each gateway holds half the sockets; each load process its share. `ulimit -n` is per process.
  const perGatewayMax = ctx.fdLimit - 1000;
  if (Math.ceil(sockets / 2) > perGatewayMax) {
    sockets = perGatewayMax * 2;
    capped = `open-file limit ${ctx.fdLimit} per process: at most ${perGatewayMax} sockets per gateway, ${sockets} in all`;
  }
  const { idleN, shares, loadSockets } = fleetShares(ctx, sockets);
  const workers = shares.length;
  const rateMode: PaceMode = { kind: 'rate', rate: c.rate, durationS: c.rawDurationS };
  const perSocket = (a: number | null, b: number | null, n: number) => (a !== null && b !== null && n > 0 ? Math.round(((b - a) / n / 1024) * 10) / 10 : null);

  // Raw: idle plain sockets over the two adapter servers, then the raw latencies under that load.
  let raw: ConnectionsResult['raw'] = null;
  if (c.rawIdle) {
    ctx.log(`connections: raw, ${idleN} idle sockets (+${loadSockets} measuring) over 2 plain Socket.IO servers, ${workers} load processes`);
    const rawH0 = await sumOf([rawHeap(ctx.raw.a), rawHeap(ctx.raw.b)]);
    const idle = shares.map((count, i) => ctx.worker(i + 1).run('rawIdle', { urls: [ctx.raw.a.url, ctx.raw.b.url], count, everyMs: c.locationEveryMs }));
    const rawReady = (await Promise.all(idle.map((h) => h.event('ready')))) as { connected: number; connectS: number }[];
    const rawConnected = rawReady.reduce((a, r) => a + r.connected, 0);
    const rawH1 = await sumOf([rawHeap(ctx.raw.a), rawHeap(ctx.raw.b)]);
    const rawHeld = await held(ctx, c.idleS);
    const ack = await rawAck(ctx, loadSockets, rateMode);
    const room = await rawRoom(ctx, loadSockets, rateMode);
    await rawRelease(ctx);
    for (const h of idle) h.stop();
    const idleResults = await Promise.all(idle.map((h) => h.result));
    ctx.log(`  → raw: ${rawConnected} connected in ${Math.max(...rawReady.map((r) => r.connectS))} s`);
    raw = {
      connected: rawConnected + loadSockets,
      connectS: Math.max(...rawReady.map((r) => r.connectS)),
      heapPerSocketKB: perSocket(rawH0, rawH1, rawConnected),
      held: rawHeld,
      ack, room, idle: idleResults,
    };
  }

  // Product: drivers online over the two gateways, reporting every 5 s, then calls at the rate.
  const stack = await ctx.mainStack();
  ctx.log(`connections: product, ${idleN} drivers online (+${loadSockets} in the call load), ${c.rate} calls/s for ${c.durationS} s`);
  const h0 = await sumOf(stack.gateways.map((g) => productHeap(g)));
  const t0 = performance.now();
  const fleets = shares.map((count, i) => ctx.worker(i + 1).run('fleet', {
    urls: stack.urls, secret: BENCH_SECRET, count, prefix: `cx${i}`, spreadM: 10_000, locationEveryMs: c.locationEveryMs, connectConcurrency: 200,
  }));
  const ready = (await Promise.all(fleets.map((h) => h.event('ready')))) as { online: number }[];
  const connectS = (performance.now() - t0) / 1000;
  const online = ready.reduce((a, r) => a + r.online, 0);
  const h1 = await sumOf(stack.gateways.map((g) => productHeap(g)));
  const productHeld = await held(ctx, c.idleS);
  const countSockets = () => sumOf(stack.gateways.map(async (g) => {
    const [d, p] = await Promise.all([metric(g.url, 'dispatch_sockets\\{role="driver"\\}'), metric(g.url, 'dispatch_sockets\\{role="passenger"\\}')]);
    return (d ?? 0) + (p ?? 0);
  }));
  ctx.log(`  → ${online} drivers online in ${connectS.toFixed(1)} s; gateways count ${(await countSockets()) ?? '?'} sockets`);
  // Every socket is up once the call load is running: count them there.
  let gatewaySockets: number | null = null;
  const step = await loadStep(ctx, c.rate, c.durationS, c.drainMs, {
    whileRunning: async () => {
      await new Promise((r) => setTimeout(r, Math.min(1000, c.durationS * 300)));
      gatewaySockets = await countSockets();
    },
  });
  for (const h of fleets) h.stop();
  const fleetResults = await Promise.all(fleets.map((h) => h.result));
  ctx.log('  → every driver signed off; waiting for the gateways to recover');
  const afterCpu = new CpuWindow(() => ctx.roles());
  const recovery = await recovered(stack.urls, RECOVERY_LIMIT_S);
  const afterStop = afterCpu.stop();
  ctx.log(`  → gateways ${recovery === null ? `not recovered after ${RECOVERY_LIMIT_S} s` : `answering again after ${recovery} s`}`);
  return {
    requested: c.sockets, fdLimit: ctx.fdLimit, capped, loadWorkers: workers + 1,
    recoveryS: recovery,
    afterStopCpu: afterStop,
    raw,
    product: {
      connected: online + step.drivers + step.riders,
      connectS: Math.round(connectS * 10) / 10,
      gatewaySockets,
      heapBeforeMB: h0 === null ? null : Math.round(h0 / 1048576),
      heapAfterMB: h1 === null ? null : Math.round(h1 / 1048576),
      heapPerSocketKB: perSocket(h0, h1, online),
      held: productHeld,
      step,
      fleets: fleetResults.map((f) => ({ online: f.online, connectFailures: f.connectFailures, doubleTrips: f.doubleTrips, errors: f.errors })),
    },
  };
}

// ---- 5. REST ------------------------------------------------------------------------------

export interface RestScenario {
  connections: number;
  raw: RestResult & { cpu: CpuShare };
  product: RestResult & { cpu: CpuShare };
  /** Dispatch jobs still waiting when the REST load ended (the dispatcher's backlog). */
  queueWaitingAfter: number | null;
  redisTop: CommandStat[];
}

export async function rest(ctx: BenchCtx): Promise<RestScenario> {
  const p = ctx.plan.rest;
  if (ctx.raw.http.length === 0) ctx.raw.http.push(...(await Promise.all([startRawHttp('raw-http-1'), startRawHttp('raw-http-2')])));
  ctx.log(`rest: raw node:http POST, ${p.connections} connections, ${p.rawDurationS} s`);
  const raw = await withCpu(ctx, () => ctx.worker(0).run('rest', {
    urls: ctx.raw.http.map((h) => h.url), secret: BENCH_SECRET, connections: p.connections, durationS: p.rawDurationS, tokens: Math.ceil(p.rawDurationS * 20_000), path: '/api/calls',
  }).result);
  // A fresh stack: what other scenarios leave behind (queued jobs, drivers in their grace period) is not REST's.
  const stack = p.freshStack ? await ctx.restartStack() : await ctx.mainStack();
  ctx.log(`rest: POST /api/calls, ${p.connections} connections over ${stack.urls.length} gateways, ${p.durationS} s`);
  await resetStats(ctx.redis.client);
  const product = await withCpu(ctx, () => ctx.worker(0).run('rest', {
    urls: stack.urls, secret: BENCH_SECRET, connections: p.connections, durationS: p.durationS, tokens: Math.ceil(p.durationS * 12_000),
  }).result);
  const redisTop = await commandStats(ctx.redis.client, 8);
  const disp = stack.dispatchers[0];
  const queueWaitingAfter = disp ? await metric(disp.url, 'dispatch_queue_jobs\\{state="waiting"\\}') : null;
  ctx.log(`  → ${product.okPerS} requests/s, availability ${product.availability} % (raw ${raw.okPerS}/s)`);
  return { connections: p.connections, raw, product, queueWaitingAfter, redisTop };
}

// ---- profiles -----------------------------------------------------------------------------

export interface ProfileRun {
  what: string;
  dir: string;
  summaries: ProfileSummary[];
  /** Connections only: the same processes once every driver had signed off, until they recovered. */
  after?: ProfileSummary[];
  recoveryS?: number | null;
  step?: StepResult;
  rest?: RestResult;
}

/** How the idle drivers of the connections scenario are spread over load processes (`ulimit -n` is per process). */
function fleetShares(ctx: BenchCtx, sockets: number): { idleN: number; shares: number[]; loadSockets: number } {
  const size = loadSize(ctx.plan.connections.rate);
  const loadSockets = size.drivers + size.riders;
  const idleN = Math.max(0, sockets - loadSockets);
  const perWorker = Math.min(ctx.fdLimit - 1000, 10_000);
  const workers = Math.max(1, Math.ceil(idleN / perWorker));
  return { idleN, loadSockets, shares: Array.from({ length: workers }, (_, i) => Math.floor(idleN / workers) + (i < idleN % workers ? 1 : 0)) };
}

/**
 * Run a load against a stack started with --cpu-prof; the profiles are written when it stops.
 * Node writes one file per thread (the tsx loader has a thread of its own): the main thread is the
 * one that was busy.
 */
export async function profileRun(ctx: BenchCtx, what: 'throughput' | 'rest' | 'connections', rate: number): Promise<ProfileRun> {
  const dir = join(ctx.profDir, what);
  const stack = await ctx.restartStack({ cpuProfDir: dir });
  const d = ctx.plan.profile.durationS;
  const out: ProfileRun = { what, dir, summaries: [] };
  // Only the load counts, not the start-up (module loading) nor the graceful stop.
  let window: Window = { fromUs: monotonicUs(), toUs: 0 };
  let after: Window | undefined;
  if (what === 'throughput') {
    ctx.log(`profile: ${rate} calls/s for ${d} s with --cpu-prof`);
    out.step = await loadStep(ctx, rate, d, 3000);
  } else if (what === 'connections') {
    const { idleN, shares } = fleetShares(ctx, Math.min(ctx.plan.connections.sockets, 2 * (ctx.fdLimit - 1000)));
    ctx.log(`profile: ${idleN} drivers online, ${rate} calls/s for ${d} s with --cpu-prof`);
    const fleets = shares.map((count, i) => ctx.worker(i + 1).run('fleet', {
      urls: stack.urls, secret: BENCH_SECRET, count, prefix: `px${i}`, spreadM: 10_000, locationEveryMs: ctx.plan.connections.locationEveryMs, connectConcurrency: 200,
    }));
    try {
      await Promise.all(fleets.map((h) => h.event('ready')));
      window = { fromUs: monotonicUs(), toUs: 0 };
      out.step = await loadStep(ctx, rate, d, 3000);
    } finally {
      window.toUs = monotonicUs();
      for (const h of fleets) h.stop();
      await Promise.allSettled(fleets.map((h) => h.result));
    }
    after = { fromUs: monotonicUs(), toUs: 0 };
    out.recoveryS = await recovered(stack.urls, RECOVERY_LIMIT_S);
    after.toUs = monotonicUs();
  } else {
    ctx.log(`profile: POST /api/calls for ${d} s with --cpu-prof`);
    out.rest = await ctx.worker(0).run('rest', {
      urls: stack.urls, secret: BENCH_SECRET, connections: ctx.plan.rest.connections, durationS: d, tokens: Math.ceil(d * 12_000),
    }).result;
  }
  if (!window.toUs) window.toUs = monotonicUs();
  const names = stack.all().map((p) => p.name);
  await ctx.stopStack();
  for (const name of names) {
    const files = (() => {
      try {
        return readdirSync(join(dir, name)).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, name, f));
      } catch {
        return [];
      }
    })();
    const summaries = files.map((f) => summariseFile(f, name, ROOT, 12, window)).sort((x, y) => y.busyS - x.busyS);
    if (summaries[0]) out.summaries.push(summaries[0]);
    else ctx.log(`  (no profile written by ${name})`);
    const main = files.find((f) => summaries[0] && f.endsWith(summaries[0].file));
    if (after && main) (out.after ??= []).push(summariseFile(main, name, ROOT, 12, after));
  }
  return out;
}
