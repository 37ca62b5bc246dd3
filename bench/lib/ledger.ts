/**
 * The ledger on SQLite and on PostgreSQL, side by side in one run:
 *  (a) the writer alone: the same entries in batches of 500 through SqliteLedger and PostgresLedger
 *      (bench/tasks/ledger-writer.ts, in a load worker), entries/s and CPU per entry, PostgreSQL's
 *      own backends counted (it does its SQL work there, SQLite in-process);
 *  (b) the whole stack at the plan's rate (400 calls/s, the throughput scenario's load step), once
 *      on SQLite (DB_PATH) and once with DATABASE_URL on a fresh database of the local PostgreSQL:
 *      the ledger stream's backlog (XLEN: written entries are deleted) and the age of its oldest
 *      entry (XRANGE - + COUNT 1), every 250 ms; entries written from the dispatcher's
 *      dispatch_ledger_entries_written_total; the dispatcher's CPU and the PostgreSQL backends'.
 * PostgreSQL not reachable (or no database can be made): the PostgreSQL half is skipped and said so.
 */
import type { LedgerWriterResult } from '../tasks/ledger-writer.js';
import { type Plan } from './plan.js';
import {
  AllPostgresCpu, BackendCpu, createDatabase, dropDatabase, PG_ADMIN_URL, probePostgres, redactUrl,
} from './postgres.js';
import { sleep } from './procs.js';
import { loadStep, type BenchCtx, type StepResult } from './scenarios.js';
import { metric, type ProductStack } from './stack.js';

export type LedgerBackend = 'sqlite' | 'postgres';

export interface Spread {
  p50: number;
  p99: number;
  max: number;
}

export interface LedgerStackRun {
  backend: LedgerBackend;
  rate: number;
  step: StepResult;
  /** Calls being made: from the load's `running` to its `draining`. */
  windowS: number;
  /** Entries the dispatcher committed in the window (its counter), per second. */
  written: number | null;
  writtenPerS: number | null;
  /** Entries added to the stream in the window (written + the backlog's growth), per second. */
  producedPerS: number | null;
  /** Every entry of the run, once the stream was empty, per requested call. */
  entriesPerCall: number | null;
  /** Samples of the stream while calls were made: backlog in entries, age of the oldest entry in s. */
  samples: number;
  lagEntries: Spread | null;
  lagS: Spread | null;
  /** After the calls stopped (rides still finishing): the largest backlog and age seen. */
  afterMax: { entries: number; s: number } | null;
  /** Seconds from the calls stopping until the stream was empty for good (null: not within the plan's wait). */
  emptyAfterS: number | null;
  /** Dispatcher CPU in the window: % of one core, and µs per entry written. */
  dispatcherPct: number | null;
  dispatcherUsPerEntry: number | null;
  /** PostgreSQL: its backends serving the bench's database (the dispatcher's writer and the gateways' reads). */
  server: { pct: number; usPerEntry: number | null; backends: number } | null;
  /** PostgreSQL: every postgres process of the machine (helpers and other sessions too). */
  allPostgres: { pct: number; usPerEntry: number | null } | null;
}

export interface LedgerResult {
  postgres: { url: string; available: boolean; version: string | null; reason: string | null };
  writer: LedgerWriterResult[];
  stack: LedgerStackRun[];
  /** Per part, why it did not run on a backend (e.g. a failure of the PostgreSQL run). */
  skipped: string[];
}

interface Sample {
  t: number;
  entries: number;
  ageS: number;
}

const r1 = (v: number) => Math.round(v * 10) / 10;
const r3 = (v: number) => Math.round(v * 1000) / 1000;

/** Nearest-rank percentiles of a few values. */
export function spread(values: number[], round: (v: number) => number = r3): Spread | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] as number;
  return { p50: round(at(0.5)), p99: round(at(0.99)), max: round(s[s.length - 1] as number) };
}

/** The ledger stream every `everyMs`, until stopped; `also` runs at each sample (e.g. a backend tick). */
class StreamSampler {
  readonly samples: Sample[] = [];
  private running = true;
  private readonly loop: Promise<void>;

  constructor(ctx: BenchCtx, key: string, everyMs: number, also?: () => Promise<void>) {
    const redis = ctx.redis.client;
    this.loop = (async () => {
      while (this.running) {
        const next = performance.now() + everyMs;
        try {
          const [[, entries], [, first]] = (await redis.multi().xlen(key).xrange(key, '-', '+', 'COUNT', 1).exec()) as [
            [unknown, number], [unknown, [string, string[]][]],
          ];
          const now = Date.now();
          const oldest = first[0] ? Number(first[0][0].split('-')[0]) : now;
          this.samples.push({ t: performance.now(), entries, ageS: Math.max(0, (now - oldest) / 1000) });
          if (also) await also().catch(() => undefined);
        } catch {
          // a lost sample (Redis busy): the next one counts
        }
        await sleep(Math.max(0, next - performance.now()));
      }
    })();
  }

  last(): Sample | undefined {
    return this.samples[this.samples.length - 1];
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

const WRITTEN = 'dispatch_ledger_entries_written_total';

async function stackRun(ctx: BenchCtx, backend: LedgerBackend, stack: ProductStack, p: Plan['ledger'], pg?: { adminUrl: string; database: string }): Promise<LedgerStackRun> {
  const disp = stack.dispatchers[0];
  if (!disp) throw new Error('no dispatcher');
  const key = `${stack.env.KEY_PREFIX}:ledger`;
  const written = () => metric(disp.url, WRITTEN);
  const backends = pg ? new BackendCpu(pg.adminUrl, pg.database) : null;
  let every: AllPostgresCpu | null = null;
  let sampler: StreamSampler | undefined;
  const mark: { t0?: number; t1?: number; w0?: number | null; w1?: number | null; x0?: number; x1?: number } = {};
  let server: { seconds: number; cpuS: number; backends: number } | null = null;
  let all: { seconds: number; cpuS: number } | null = null;

  const xlen = () => ctx.redis.client.xlen(key).catch(() => 0);
  ctx.log(`ledger: ${backend}, ${p.rate} calls/s for ${p.durationS} s, the stream sampled every ${p.sampleMs} ms`);
  let step: StepResult;
  try {
    step = await loadStep(ctx, p.rate, p.durationS, p.drainMs, {
      whileRunning: async () => {
        [mark.w0, mark.x0] = await Promise.all([written(), xlen()]);
        await backends?.start();
        every = pg ? new AllPostgresCpu() : null;
        mark.t0 = performance.now();
        sampler = new StreamSampler(ctx, key, p.sampleMs, backends ? () => backends.tick() : undefined);
      },
      onDraining: async () => {
        mark.t1 = performance.now();
        all = every?.stop() ?? null;
        if (backends) server = await backends.stop();
        [mark.w1, mark.x1] = await Promise.all([written(), xlen()]);
      },
    });
  } catch (err) {
    // Nothing of this run is kept: the sampler and the monitor stop with it.
    await sampler?.stop();
    await backends?.stop().catch(() => undefined);
    throw err;
  }
  // Rides still finishing write their last entries: wait until the stream stays empty a second.
  const s = sampler;
  let emptyAfterS: number | null = null;
  if (s) {
    const until = performance.now() + p.emptyWaitS * 1000;
    const quiet = Math.ceil(1000 / p.sampleMs);
    const t1 = mark.t1;
    let empty = false;
    while (t1 !== undefined && performance.now() < until) {
      const tail = s.samples.slice(-quiet);
      empty = tail.length === quiet && tail.every((x) => x.entries === 0) && (tail[0]?.t ?? 0) > t1;
      if (empty) break;
      await sleep(p.sampleMs);
    }
    await s.stop();
    if (empty && t1 !== undefined) {
      const lastBusy = s.samples.filter((x) => x.t > t1 && x.entries > 0).pop();
      emptyAfterS = r1(lastBusy ? (lastBusy.t + p.sampleMs - t1) / 1000 : 0);
    }
  }
  if (backends && !server) await backends.stop().catch(() => undefined);
  const wEnd = await written();

  const t0 = mark.t0;
  const t1 = mark.t1;
  const windowS = t0 !== undefined && t1 !== undefined ? (t1 - t0) / 1000 : 0;
  const during = s && t0 !== undefined && t1 !== undefined ? s.samples.filter((x) => x.t >= t0 && x.t <= t1) : [];
  const afterSamples = s && t1 !== undefined ? s.samples.filter((x) => x.t > t1) : [];
  const w = mark.w0 !== undefined && mark.w1 !== undefined && mark.w0 !== null && mark.w1 !== null ? mark.w1 - mark.w0 : null;
  const growth = (mark.x1 ?? 0) - (mark.x0 ?? 0);
  const perS = (v: number | null) => (v === null || windowS <= 0 ? null : Math.round(v / windowS));
  const cpu = step.cpu;
  const dispPct = cpu ? (cpu.byRole[disp.name] ?? null) : null;
  const dispCpuS = cpu && dispPct !== null ? (dispPct / 100) * cpu.seconds : null;
  const us = (cpuS: number | null) => (cpuS === null || !w ? null : r1((cpuS * 1e6) / w));
  const srv = server as { seconds: number; cpuS: number; backends: number } | null;
  const every2 = all as { seconds: number; cpuS: number } | null;
  const requested = step.load.report.calls.requested;
  return {
    backend, rate: p.rate, step,
    windowS: r1(windowS),
    written: w,
    writtenPerS: perS(w),
    producedPerS: perS(w === null ? null : w + growth),
    entriesPerCall: wEnd !== null && requested > 0 && emptyAfterS !== null ? Math.round((wEnd / requested) * 100) / 100 : null,
    samples: during.length,
    lagEntries: spread(during.map((x) => x.entries), Math.round),
    lagS: spread(during.map((x) => x.ageS)),
    afterMax: afterSamples.length ? { entries: Math.max(...afterSamples.map((x) => x.entries)), s: r3(Math.max(...afterSamples.map((x) => x.ageS))) } : null,
    emptyAfterS,
    dispatcherPct: dispPct,
    dispatcherUsPerEntry: us(dispCpuS),
    server: srv ? { pct: r1((100 * srv.cpuS) / srv.seconds), usPerEntry: us(srv.cpuS), backends: srv.backends } : null,
    allPostgres: every2 ? { pct: r1((100 * every2.cpuS) / every2.seconds), usPerEntry: us(every2.cpuS) } : null,
  };
}

export async function ledger(ctx: BenchCtx): Promise<LedgerResult> {
  const p = ctx.plan.ledger;
  const adminUrl = PG_ADMIN_URL;
  const probe = await probePostgres(adminUrl);
  const out: LedgerResult = {
    postgres: { url: redactUrl(adminUrl), available: probe.ok, version: probe.ok ? probe.version : null, reason: probe.ok ? null : probe.reason },
    writer: [],
    stack: [],
    skipped: [],
  };
  ctx.log(probe.ok ? `ledger: PostgreSQL ${probe.version} at ${out.postgres.url}` : `ledger: PostgreSQL not reachable at ${out.postgres.url} (${probe.reason}): SQLite only`);
  const dbs: string[] = [];
  const fresh = async (tag: string) => {
    const d = await createDatabase(adminUrl, tag);
    dbs.push(d.name);
    return d;
  };
  const pgPart = async (what: string, fn: () => Promise<void>) => {
    if (!out.postgres.available) return;
    try {
      await fn();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      ctx.log(`ledger: the PostgreSQL ${what} failed: ${message}`);
      out.skipped.push(`PostgreSQL ${what}: ${message.split('\n')[0]?.slice(0, 300) ?? ''}`);
    }
  };
  try {
    // (a) the writer alone, the same entries through each backend.
    ctx.log(`ledger: the writer alone, ${p.entries} entries in batches of ${p.batch}, SQLite`);
    out.writer.push(await ctx.worker(0).run('ledgerWriter', { backend: 'sqlite', entries: p.entries, batch: p.batch }).result);
    await pgPart('writer', async () => {
      const db = await fresh('w');
      ctx.log(`ledger: the writer alone, PostgreSQL (database ${db.name})`);
      out.writer.push(await ctx.worker(0).run('ledgerWriter', {
        backend: 'postgres', entries: p.entries, batch: p.batch, postgres: { url: db.url, adminUrl, database: db.name },
      }).result);
    });
    for (const w of out.writer) {
      ctx.log(`  → ${w.backend}: ${w.perS} entries/s, CPU ${w.nodeUsPerEntry} µs/entry in Node${w.serverUsPerEntry === null ? '' : ` + ${w.serverUsPerEntry} µs in its ${w.backends} backend(s)`}`);
    }

    // (b) the stack at the rate, each on a fresh stack (new KEY_PREFIX, empty stream, new ledger).
    const sqliteStack = await ctx.restartStack();
    out.stack.push(await stackRun(ctx, 'sqlite', sqliteStack, p));
    await pgPart('stack run', async () => {
      const db = await fresh('e');
      const pgStack = await ctx.restartStack({ env: { DATABASE_URL: db.url } });
      out.stack.push(await stackRun(ctx, 'postgres', pgStack, p, { adminUrl, database: db.name }));
    });
    for (const s of out.stack) {
      ctx.log(`  → ${s.backend}: ${s.writtenPerS ?? '?'} entries/s written, backlog p50/p99/max ${s.lagEntries ? `${s.lagEntries.p50}/${s.lagEntries.p99}/${s.lagEntries.max}` : '-'} entries, ` +
        `oldest ${s.lagS ? `${s.lagS.p50}/${s.lagS.p99}/${s.lagS.max}` : '-'} s; ${s.step.sustained ? 'sustained' : `not sustained: ${s.step.why.join('; ')}`}`);
    }
  } finally {
    // Neither stack is the others' (a PostgreSQL ledger, or SQLite beside it): the next scenario starts its own.
    await ctx.stopStack();
    for (const name of dbs) await dropDatabase(adminUrl, name).catch((err: unknown) => ctx.log(`ledger: could not drop database ${name}: ${String(err)}`));
  }
  return out;
}
