/**
 * The bench run: a private Redis, the raw baseline servers, load worker processes and the product
 * stack, every scenario in turn, and a result object. Everything it starts it stops, also on error.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { enableLagReports } from './lag.js';
import { ledger, type LedgerResult } from './ledger.js';
import { matching, type MatchingResult } from './matching.js';
import type { MatchScenario } from './match-plan.js';
import { opsFeed, type OpsFeedResult } from './ops-feed.js';
import { makePlan, SCENARIOS, TARGETS, type Mode, type OpsFeedPlan, type Plan, type Scenario } from './plan.js';
import { dropTempDir, keepTempDir, killAllChildren, measuredWindows, ROOT, trackTempDir } from './procs.js';
import { startRawSio, type RawServer } from './raw.js';
import { startRedis, type PrivateRedis } from './redis.js';
import {
  capacity, connections, contention, latency, profileRun, rest, throughput,
  type BenchCtx, type CapacityResult, type ConnectionsResult, type ContentionScenario, type LatencyResult,
  type ProfileRun, type RestScenario, type ThroughputResult,
} from './scenarios.js';
import { startStack, type ProductStack, type StackOptions } from './stack.js';
import type { MicroResult } from '../tasks/micro.js';
import { LoadWorker } from './workers.js';

export interface BenchOptions {
  mode: Mode;
  only?: Scenario[];
  /** Of the matching scenarios, only these (default: the plan's). */
  matching?: MatchScenario[];
  /** Profile even when every target is met (or never: false). Default: when a target is missed, full mode only. */
  profile?: boolean;
  log?: (msg: string) => void;
  /** The command line, for the report. */
  command?: string;
  /** Changes to the plan's operator-feed run (`--drivers`, `--seconds`, …). */
  opsFeed?: Partial<OpsFeedPlan>;
}

/** Which product code ran: the commit, files changed on top of it, and a digest of server/ and protocol/. */
export interface CodeState {
  commit: string;
  /** Uncommitted changes to the product (server/, protocol/, clients/, package files). */
  dirty: string[];
  digest: string;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out.sort();
}

export function codeState(): CodeState {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trimEnd();
    } catch {
      return '';
    }
  };
  const hash = createHash('sha1');
  for (const f of ['server', 'protocol'].flatMap((d) => filesUnder(join(ROOT, d)))) hash.update(f).update(readFileSync(f));
  return {
    // An export of a commit (git archive) is no checkout: BENCH_SOURCE_COMMIT names it.
    commit: git(['rev-parse', '--short', 'HEAD']) || process.env.BENCH_SOURCE_COMMIT || 'unknown (not a git checkout)',
    dirty: git(['status', '--porcelain', '--', 'server', 'protocol', 'clients', 'package.json', 'package-lock.json'])
      .split('\n').filter(Boolean).map((l) => l.slice(3)),
    digest: hash.digest('hex').slice(0, 12),
  };
}

export interface Machine {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  redis: string;
  fdLimit: number;
}

export interface BenchResult {
  meta: {
    date: string;
    command: string;
    mode: Mode;
    machine: Machine;
    loadAvgStart: number[];
    loadAvgEnd: number[];
    elapsedS: number;
    /** CPU taken by processes not of the bench, over every measured window (% of one core). */
    noise: { measuredS: number; othersAvg: number; othersMax: number; machineBusyAvg: number };
    scenarios: Scenario[];
    errors: { scenario: string; message: string }[];
    /** The product code at the start, and whether it changed before the end (others work in the same tree). */
    code: CodeState & { changedDuringRun: boolean };
  };
  plan: Plan;
  capacity?: CapacityResult;
  throughput?: ThroughputResult;
  latency?: LatencyResult;
  contention?: ContentionScenario;
  connections?: ConnectionsResult;
  rest?: RestScenario;
  micro?: MicroResult;
  /** The ledger on SQLite and on PostgreSQL: the writer alone, and the stack at 400 calls/s. */
  ledger?: LedgerResult;
  matching?: MatchingResult;
  /** Issue 13: the operator feed's cost, console closed against open. */
  opsFeed?: OpsFeedResult;
  profiles?: ProfileRun[];
}

export function fdLimit(): number {
  try {
    const m = /Max open files\s+(\d+)/.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : 1024;
  } catch {
    return 1024;
  }
}

function osName(): string {
  try {
    return /PRETTY_NAME="([^"]+)"/.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? `Linux ${release()}`;
  } catch {
    return `Linux ${release()}`;
  }
}

/** Any target of the issue missed so far (decides whether to profile). */
export function targetsMissed(r: BenchResult): boolean {
  if (r.throughput && r.throughput.maxSustained < TARGETS.throughputCallsPerS) return true;
  if (r.rest && (r.rest.product.okPerS < TARGETS.restPerS || r.rest.product.availability < TARGETS.restAvailability)) return true;
  const l = r.latency;
  if (l) {
    const p = l.product.load.report.latencyMs;
    if (l.bounds.requestToOffer !== null && (p.requestToOffer.p99 ?? Infinity) > l.bounds.requestToOffer) return true;
    if (l.bounds.acceptToRider !== null && (p.acceptToRider.p99 ?? Infinity) > l.bounds.acceptToRider) return true;
  }
  const c = r.connections;
  if (c && ((c.product.heapPerSocketKB ?? Infinity) > TARGETS.heapPerSocketKB || c.product.connected < TARGETS.connections)) return true;
  return false;
}

export async function runBench(o: BenchOptions): Promise<BenchResult> {
  const log = o.log ?? (() => undefined);
  const plan = makePlan(o.mode);
  if (o.matching?.length) plan.matching.scenarios = o.matching;
  if (o.opsFeed) plan.opsFeed = { ...plan.opsFeed, ...o.opsFeed };
  const only = new Set<Scenario>(o.only?.length ? o.only : SCENARIOS);
  const started = performance.now();
  const dropLagReports = enableLagReports();
  const profDir = trackTempDir(mkdtempSync(join(tmpdir(), 'dispatch-bench-prof-')));
  const loadAvgStart = loadavg().map((x) => Math.round(x * 100) / 100);

  let redis: PrivateRedis | undefined;
  const rawServers: RawServer[] = [];
  /** Raw HTTP servers, started by the REST scenario when it runs. */
  const http: RawServer[] = [];
  const workers: LoadWorker[] = [];
  let stack: ProductStack | undefined;
  let stackSeq = 0;
  const runId = randomBytes(3).toString('hex');

  const result: BenchResult = {
    meta: {
      date: new Date().toISOString(), command: o.command ?? `npm run bench${o.mode === 'full' ? '' : ` -- --${o.mode}`}`, mode: o.mode,
      machine: {
        cores: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
        os: osName(), node: process.version, redis: 'unknown', fdLimit: fdLimit(),
      },
      loadAvgStart, loadAvgEnd: [], elapsedS: 0, noise: { measuredS: 0, othersAvg: 0, othersMax: 0, machineBusyAvg: 0 }, scenarios: [...only], errors: [],
      code: { ...codeState(), changedDuringRun: false },
    },
    plan,
  };

  const roles = (): Record<string, number[]> => {
    const r: Record<string, number[]> = {};
    for (const p of stack?.all() ?? []) r[p.name] = [p.pid];
    if (redis) r.redis = [redis.pid];
    r.load = workers.map((w) => w.pid).filter((p) => p > 0);
    r.raw = [...rawServers, ...http].map((s) => s.pid);
    return r;
  };

  try {
    redis = await startRedis();
    result.meta.machine.redis = redis.version;
    log(`private redis-server ${redis.version} on ${redis.url}`);
    const privateRedis = redis;
    const stackOpts = (opts: Partial<StackOptions>): StackOptions => ({ redisUrl: privateRedis.url, keyPrefix: `b${runId}s${++stackSeq}`, ...opts });
    // Contention needs every driver of a group in one wave; the other scenarios run the defaults.
    const contentionEnv = { OFFER_WAVE_SIZE: String(plan.contention.driversPerCall) };
    const wantsMain = (['throughput', 'latency', 'connections', 'rest', 'profile'] as const).some((x) => only.has(x));
    // Everything starts at once: the raw servers, the load workers, the first product stack.
    workers.push(LoadWorker.start('load-1'), LoadWorker.start('load-2'));
    // (A second stack started here too would only make the start slower on two cores: the main one
    // is started when contention is over.)
    const [a, b, first] = await Promise.all([
      startRawSio('raw-sio-a', redis.url, `raw${runId}`),
      startRawSio('raw-sio-b', redis.url, `raw${runId}`),
      only.has('contention') || wantsMain ? startStack(stackOpts(only.has('contention') ? { env: contentionEnv } : {})) : Promise.resolve(undefined),
    ]);
    rawServers.push(a, b);
    stack = first;
    log(`raw servers, load workers${first ? ' and the product stack' : ''} up`);

    const ctx: BenchCtx = {
      plan, redis, raw: { a, b, http }, rawRedisUrl: `${redis.url}/1`,
      worker(i) {
        while (workers.length <= i) workers.push(LoadWorker.start(`load-${workers.length + 1}`));
        return workers[i] as LoadWorker;
      },
      get stack() {
        return stack;
      },
      async restartStack(opts: Partial<StackOptions> = {}) {
        // The old stack drains (gracefully, its own prefix) while the new one starts.
        const stopping = ctx.stopStack();
        try {
          stack = await startStack(stackOpts(opts));
        } finally {
          await stopping;
        }
        return stack;
      },
      async stopStack() {
        const s = stack;
        stack = undefined;
        if (s) await s.stop();
      },
      async mainStack() {
        if (stack && stack.env.OFFER_WAVE_SIZE === undefined) return stack;
        if (stack) {
          await stack.replaceDispatchers({ OFFER_WAVE_SIZE: undefined });
          return stack;
        }
        return ctx.restartStack();
      },
      roles,
      log,
      profDir,
      fdLimit: result.meta.machine.fdLimit,
    };

    const attempt = async <T>(name: Scenario, fn: () => Promise<T>): Promise<T | undefined> => {
      if (!only.has(name)) return undefined;
      try {
        return await fn();
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`${name} failed: ${message}`);
        result.meta.errors.push({ scenario: name, message: message.slice(0, 2000) });
        return undefined;
      }
    };

    result.capacity = await attempt('capacity', () => capacity(ctx));
    result.contention = await attempt('contention', () => contention(ctx));
    result.throughput = await attempt('throughput', () => throughput(ctx));
    result.latency = await attempt('latency', () => latency(ctx));
    result.connections = await attempt('connections', () => connections(ctx));
    result.rest = await attempt('rest', () => rest(ctx));
    const microPlan = plan.micro;
    if (microPlan) {
      result.micro = await attempt('micro', () => {
        log('micro: the ledger writer, token verification and the breaker\'s stats, each beside a cheaper way');
        return ctx.worker(0).run('micro', microPlan).result;
      });
    }
    result.ledger = await attempt('ledger', () => ledger(ctx));
    result.matching = await attempt('matching', () => matching(ctx));
    result.opsFeed = await attempt('ops-feed', () => opsFeed(ctx));
    await ctx.stopStack();

    const wantProfile = o.profile ?? (o.mode === 'full' && targetsMissed(result));
    if (wantProfile && only.has('profile')) {
      const profiles: ProfileRun[] = [];
      const rate = result.throughput?.firstFailing ?? plan.throughput.steps[plan.throughput.steps.length - 1] ?? 100;
      const p1 = await attempt('profile', () => profileRun(ctx, 'throughput', rate));
      if (p1) profiles.push(p1);
      const p2 = await attempt('profile', () => profileRun(ctx, 'rest', 0));
      if (p2) profiles.push(p2);
      const conn = result.connections?.product.step;
      if (conn && !conn.sustained) {
        const p3 = await attempt('profile', () => profileRun(ctx, 'connections', plan.connections.rate));
        if (p3) profiles.push(p3);
      }
      result.profiles = profiles;
      log(`CPU profiles in ${ctx.profDir}`);
    }
  } finally {
    const s = stack;
    stack = undefined;
    await Promise.allSettled([
      ...(s ? [s.stop()] : []),
      ...workers.map((w) => w.close()),
      ...[...rawServers, ...http].map((r) => r.stop()),
    ]);
    if (redis) await redis.stop().catch(() => undefined);
    // Profiles are kept (their folder is in the log); an unused folder is not.
    if (result.profiles?.length) keepTempDir(profDir);
    else dropTempDir(profDir);
    dropLagReports();
    killAllChildren();
  }
  const secs = measuredWindows.reduce((x, w) => x + w.seconds, 0);
  const avg = (f: (w: (typeof measuredWindows)[number]) => number) =>
    secs ? Math.round(measuredWindows.reduce((x, w) => x + f(w) * w.seconds, 0) / secs) : 0;
  result.meta.noise = {
    measuredS: Math.round(secs),
    othersAvg: avg((w) => w.others),
    othersMax: Math.round(Math.max(0, ...measuredWindows.map((w) => w.others))),
    machineBusyAvg: avg((w) => w.machineBusy),
  };
  measuredWindows.length = 0;
  result.meta.code.changedDuringRun = codeState().digest !== result.meta.code.digest;
  result.meta.loadAvgEnd = loadavg().map((x) => Math.round(x * 100) / 100);
  result.meta.elapsedS = Math.round((performance.now() - started) / 100) / 10;
  return result;
}
