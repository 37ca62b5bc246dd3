/**
 * The local PostgreSQL as the ledger bench uses it: whether it answers, a fresh database per run
 * (created here, dropped WITH (FORCE) after, also on Ctrl-C), and the CPU its server processes
 * spend, read from /proc. PostgreSQL does its SQL work in its own backend processes, not in the
 * Node process that sends it, so a ledger's "CPU per entry" counts both.
 *
 * The server is BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/test: trust auth, the
 * machine's PostgreSQL); the bench only ever creates and drops databases named bench_<hex> on it.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { cpuSeconds } from './procs.js';

export const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A URL fit for the report (no password). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}

/** The same server, another database. */
export function databaseUrl(adminUrl: string, database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000, query_timeout: 30_000, application_name: 'taxi-dispatch-bench' });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export type PgProbe = { ok: true; version: string } | { ok: false; reason: string };

/** Does the server answer (within 3 s)? Its version, or why not. */
export async function probePostgres(adminUrl: string): Promise<PgProbe> {
  try {
    const version = await withClient(adminUrl, async (c) => (await c.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ?? 'unknown');
    return { ok: true, version };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message || err.name : String(err) };
  }
}

/** Databases this process created and has not dropped yet (dropped on Ctrl-C too). */
const created = new Map<string, string>();

/** A new empty database bench_<hex>_<tag>; its URL. */
export async function createDatabase(adminUrl: string, tag: string): Promise<{ name: string; url: string }> {
  const name = `bench_${randomBytes(4).toString('hex')}_${tag.replace(/[^a-z0-9_]/g, '')}`;
  await withClient(adminUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  created.set(name, adminUrl);
  return { name, url: databaseUrl(adminUrl, name) };
}

/** Drop it, whoever is still connected to it. */
export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
  created.delete(name);
}

/** The databases this process made and has not dropped (the tests check none is left). */
export function createdDatabases(): string[] {
  return [...created.keys()];
}

/** Drop every database of this run still there (on interrupt; failures ignored). */
export async function dropCreatedDatabases(): Promise<void> {
  await Promise.allSettled([...created].map(([name, url]) => dropDatabase(url, name)));
}

// ---- CPU of the server's processes ------------------------------------------------------------

/** CPU seconds of every process named `postgres` on this machine, by pid. */
export function postgresProcesses(): Map<number, number> {
  const out = new Map<number, number>();
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const d of pids) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'postgres') continue;
      const secs = cpuSeconds(Number(d));
      if (secs !== null) out.set(Number(d), secs);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * CPU of every `postgres` process over a window: those alive at its end, since its start (or since
 * they started). It includes the server's own helpers (WAL writer, checkpointer, background
 * writer) and every other session on the server (other people's tests): an upper figure.
 */
export class AllPostgresCpu {
  private readonly before = postgresProcesses();
  private readonly t0 = performance.now();

  stop(): { seconds: number; cpuS: number } {
    let cpuS = 0;
    for (const [pid, secs] of postgresProcesses()) cpuS += Math.max(0, secs - (this.before.get(pid) ?? 0));
    return { seconds: (performance.now() - this.t0) / 1000, cpuS };
  }
}

/**
 * CPU of the backend processes serving one database: every backend pg_stat_activity lists for it
 * (the bench's database is private, so these are the ledger's connections), read from
 * /proc/<pid>/stat. A backend first seen after the start counts from 0 (it was born in the
 * window); `tick()` between start and stop catches backends that come and go.
 */
export class BackendCpu {
  private readonly base = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private t0 = 0;
  private monitor: pg.Client | undefined;

  constructor(private readonly adminUrl: string, private readonly database: string) {}

  private async pids(): Promise<number[]> {
    const m = this.monitor;
    if (!m) return [];
    const r = await m.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [this.database]);
    return r.rows.map((x) => x.pid);
  }

  private read(pids: number[], first: boolean): void {
    for (const pid of pids) {
      const secs = cpuSeconds(pid);
      if (secs === null) continue;
      if (!this.base.has(pid)) this.base.set(pid, first ? secs : 0);
      this.last.set(pid, secs);
    }
  }

  async start(): Promise<void> {
    // The monitor's own backend is on the admin database: never counted.
    this.monitor = new pg.Client({ connectionString: this.adminUrl, connectionTimeoutMillis: 3000, application_name: 'taxi-dispatch-bench-monitor' });
    this.monitor.on('error', () => undefined);
    await this.monitor.connect();
    this.read(await this.pids(), true);
    this.t0 = performance.now();
  }

  async tick(): Promise<void> {
    this.read(await this.pids().catch(() => []), false);
  }

  /** CPU seconds of the database's backends over the window, how many there were, the window's length. */
  async stop(): Promise<{ seconds: number; cpuS: number; backends: number }> {
    await this.tick();
    const seconds = (performance.now() - this.t0) / 1000;
    await this.monitor?.end().catch(() => undefined);
    this.monitor = undefined;
    let cpuS = 0;
    for (const [pid, secs] of this.last) cpuS += Math.max(0, secs - (this.base.get(pid) ?? secs));
    return { seconds, cpuS, backends: this.last.size };
  }
}
