/**
 * The ledger on PostgreSQL, through drizzle-orm and node-postgres: one history for every
 * dispatcher and gateway of a deployment. It connects and migrates lazily, on first use, under an
 * advisory lock (several dispatchers starting at once migrate once), so a process started while
 * PostgreSQL is down still starts; every use after a failure tries again.
 *
 * A batch is one transaction of set-based statements in a fixed order (planBatch): the assignment
 * fence is one multi-row INSERT … ON CONFLICT DO NOTHING RETURNING, and the rows it did not insert
 * are read back to tell a replay (same driver) from a second winner (refused). A deadlock or a
 * serialization failure between dispatchers retries the whole transaction. The writes are
 * statements over arrays through node-postgres (writePlan); connecting, migrating and the reads
 * go through drizzle.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { and, desc, asc, eq, gt, gte, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { TERMINAL_STATUSES, type AdminAction, type Call, type CallStatus } from '../../protocol/index.js';
import * as schema from './schema.pg.js';
import {
  afterFence, fenceKey, isoMs, planBatch, type AssignmentConflict, type BatchPlan, type CallEvent, type ClosedQuery, type ExportQuery, type Ledger, type LedgerEntry,
  type AdminEntry, type TrackEntry, type TrackPoint,
} from './store.js';

const MIGRATIONS = join(dirname(fileURLToPath(import.meta.url)), 'migrations-pg');
/** pg_advisory_lock key of the migrations: any fixed number every process of every version agrees on. */
const MIGRATION_LOCK = 0x7a78_1e55;
/** SQLSTATEs worth running the same transaction again for: deadlock, serialization failure. */
const RETRY_CODES = new Set(['40P01', '40001']);
const RETRIES = 5;
/** How long a process waits for another's migration before it gives up (and tries again on next use). */
const MIGRATION_WAIT_MS = 120_000;

/** The SQLSTATE of a failure: drizzle wraps the driver's error (DrizzleQueryError) in `cause`. */
export function sqlState(err: unknown): string | undefined {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

type Db = NodePgDatabase<typeof schema>;

export interface PostgresLedgerOptions {
  url: string;
  /** Connections at most (the writer uses one at a time; reads share the rest). */
  max?: number;
  /** Told of connection errors the pool sees between queries (an idle connection that broke). */
  onError?: (err: Error) => void;
}

const { adminActions, callEvents, calls, callTracks } = schema;
/** A timestamptz column as ISO-8601 UTC with milliseconds, as the wire Call spells times. */
const isoOf = (column: SQL | typeof callEvents.at | typeof adminActions.at | typeof callTracks.at) => sql<string>`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

export class PostgresLedger implements Ledger {
  readonly backend = 'postgres';
  readonly pool: pg.Pool;
  private readonly db: Db;
  private migrated: Promise<void> | undefined;

  constructor(o: PostgresLedgerOptions) {
    this.pool = new pg.Pool({
      connectionString: o.url, max: o.max ?? 4, connectionTimeoutMillis: 5000, idleTimeoutMillis: 30000, query_timeout: 30000,
      application_name: 'taxi-dispatch',
    });
    // A connection that breaks while idle is reported here; without a listener it would crash the process.
    this.pool.on('error', (err) => o.onError?.(err));
    this.db = drizzle(this.pool, { schema });
  }

  /** Connect and bring the schema up to date once; a failure is forgotten, so the next use tries again. */
  ready(): Promise<void> {
    this.migrated ??= this.migrate().catch((err: unknown) => {
      this.migrated = undefined;
      throw err;
    });
    return this.migrated;
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      // A session lock: if this process dies mid-migration, its connection closes and the lock goes
      // with it. Tried, not waited for in one statement: a statement waiting past query_timeout would
      // leave the lock request queued on a connection the pool hands out again.
      const deadline = Date.now() + MIGRATION_WAIT_MS;
      for (;;) {
        const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [MIGRATION_LOCK]);
        if (rows[0]?.locked) break;
        if (Date.now() > deadline) throw new Error('ledger: another process has been migrating the PostgreSQL ledger for too long');
        await new Promise((r) => setTimeout(r, 100));
      }
      try {
        await migrate(drizzle(client, { schema }), { migrationsFolder: MIGRATIONS });
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
      }
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      // A connection that failed here is closed, not reused (it may hold the lock or a broken transaction).
      client.release(broken);
    }
  }

  async write(entries: LedgerEntry[], admin: AdminEntry[] = [], track: TrackEntry[] = []): Promise<AssignmentConflict[]> {
    if (entries.length === 0 && admin.length === 0 && track.length === 0) return [];
    await this.ready();
    const plan = planBatch(entries);
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        if (admin.length > 0) await writeAdmin(client, admin);
        if (track.length > 0) await writeTrack(client, track);
        const conflicts = await writePlan(client, plan);
        await client.query('COMMIT');
        return conflicts;
      } catch (err) {
        await client.query('ROLLBACK').catch((e: unknown) => {
          broken = e instanceof Error ? e : new Error(String(e)); // a connection that cannot roll back is not reused
        });
        if (attempt >= RETRIES || !RETRY_CODES.has(sqlState(err) ?? '')) throw err;
      } finally {
        client.release(broken);
      }
    }
  }

  /** Data PostgreSQL refuses (class 22, data exception; 23, integrity): writing it again fails again. */
  refuses(err: unknown): boolean {
    const state = sqlState(err);
    return state !== undefined && (state.startsWith('22') || state.startsWith('23'));
  }

  async ping(): Promise<void> {
    await this.ready();
    await this.pool.query('SELECT 1');
  }

  async call(callId: string): Promise<Call | null> {
    await this.ready();
    const [row] = await this.db.select({ json: calls.json }).from(calls).where(eq(calls.id, callId));
    return row ? (row.json as Call) : null;
  }

  async history(callId: string): Promise<CallEvent[]> {
    await this.ready();
    const rows = await this.db
      .select({ seq: callEvents.seq, status: callEvents.status, driverId: callEvents.driverId, at: isoOf(callEvents.at) })
      .from(callEvents)
      .where(eq(callEvents.callId, callId))
      .orderBy(asc(callEvents.seq));
    return rows.map((r) => ({ ...r, status: r.status as CallStatus }));
  }

  async closed(q: ClosedQuery): Promise<Call[]> {
    await this.ready();
    const { before } = q;
    const rows = await this.db
      .select({ json: calls.json })
      .from(calls)
      .where(and(
        inArray(calls.status, [...TERMINAL_STATUSES]),
        q.status ? eq(calls.status, q.status) : undefined,
        before ? or(lt(calls.updatedAt, isoMs(before.at)), and(eq(calls.updatedAt, isoMs(before.at)), lt(calls.id, before.id))) : undefined,
      ))
      .orderBy(desc(calls.updatedAt), desc(calls.id))
      .limit(q.limit);
    return rows.map((r) => r.json as Call);
  }

  async exportPage(q: ExportQuery): Promise<Call[]> {
    await this.ready();
    const { after } = q;
    const rows = await this.db
      .select({ json: calls.json })
      .from(calls)
      .where(and(
        gte(calls.createdAt, isoMs(q.from)),
        lt(calls.createdAt, isoMs(q.to)),
        after ? or(gt(calls.createdAt, isoMs(after.at)), and(eq(calls.createdAt, isoMs(after.at)), gt(calls.id, after.id))) : undefined,
      ))
      .orderBy(asc(calls.createdAt), asc(calls.id))
      .limit(q.limit);
    return rows.map((r) => r.json as Call);
  }

  async track(callId: string): Promise<TrackPoint[]> {
    await this.ready();
    return this.db
      .select({ gen: callTracks.gen, seq: callTracks.seq, driverId: callTracks.driverId, lat: callTracks.lat, lng: callTracks.lng, at: isoOf(callTracks.at) })
      .from(callTracks)
      .where(eq(callTracks.callId, callId))
      .orderBy(asc(callTracks.gen), asc(callTracks.seq));
  }

  async adminActions(q: { targetId?: string | undefined; limit: number }): Promise<AdminAction[]> {
    await this.ready();
    const rows = await this.db
      .select({
        id: adminActions.id, adminId: adminActions.adminId, action: adminActions.action, targetType: adminActions.targetType,
        targetId: adminActions.targetId, reason: adminActions.reason, at: isoOf(adminActions.at), details: adminActions.details,
      })
      .from(adminActions)
      .where(q.targetId === undefined ? undefined : eq(adminActions.targetId, q.targetId))
      .orderBy(desc(adminActions.at), desc(adminActions.id))
      .limit(q.limit);
    return rows.map((r) => ({ ...r, targetType: r.targetType as AdminAction['targetType'], details: r.details as Record<string, unknown> }));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

const column = <T>(rows: readonly T[], f: (row: T) => unknown) => rows.map(f);

/** Operator levers, each once by its stream id, in the unnest style of writePlan. */
async function writeAdmin(client: pg.PoolClient, admin: readonly AdminEntry[]): Promise<void> {
  await client.query({
    name: 'ledger-admin',
    text: `INSERT INTO admin_actions (id, admin_id, action, target_type, target_id, reason, at, details)
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::json[])
      ON CONFLICT DO NOTHING`,
    values: [column(admin, (a) => a.id), column(admin, (a) => a.adminId), column(admin, (a) => a.action), column(admin, (a) => a.targetType),
      column(admin, (a) => a.targetId), column(admin, (a) => a.reason), column(admin, (a) => a.at), column(admin, (a) => JSON.stringify(a.details))],
  });
}

/** Track points, each once (call, generation, point number), in the unnest style of writePlan; in key order, as planBatch orders rows. */
async function writeTrack(client: pg.PoolClient, track: readonly TrackEntry[]): Promise<void> {
  const rows = [...track].sort((a, b) => (a.callId < b.callId ? -1 : a.callId > b.callId ? 1 : a.gen - b.gen || a.seq - b.seq));
  await client.query({
    name: 'ledger-track',
    text: `INSERT INTO call_tracks (call_id, gen, seq, driver_id, lat, lng, at)
      SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::float8[], $6::float8[], $7::timestamptz[])
      ON CONFLICT DO NOTHING`,
    values: [column(rows, (p) => p.callId), column(rows, (p) => p.gen), column(rows, (p) => p.seq), column(rows, (p) => p.driverId),
      column(rows, (p) => p.lat), column(rows, (p) => p.lng), column(rows, (p) => p.at)],
  });
}

/**
 * The statements of one batch, each one INSERT … SELECT FROM unnest(…) with one array per column:
 * a statement of a dozen parameters whatever the batch's size, prepared once per connection (by
 * name). They follow schema.pg.ts. drizzle's builder cost more than the writes themselves here
 * (BENCHMARKS.md, the ledger writer), as SQLite's prepared statements do in sqlite.ts.
 */
async function writePlan(client: pg.PoolClient, plan: BatchPlan): Promise<AssignmentConflict[]> {
  const recorded = new Map<string, string>();
  const { claims } = plan;
  if (claims.length > 0) {
    const inserted = await client.query<{ call_id: string; gen: number; driver_id: string }>({
      name: 'ledger-fence',
      text: `INSERT INTO call_assignments (call_id, gen, driver_id, seq, at)
        SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::timestamptz[])
        ON CONFLICT DO NOTHING RETURNING call_id, gen, driver_id`,
      values: [column(claims, (e) => e.call.id), column(claims, (e) => e.gen), column(claims, (e) => e.call.driverId),
        column(claims, (e) => e.call.seq), column(claims, (e) => e.call.updatedAt)],
    });
    for (const r of inserted.rows) recorded.set(fenceKey(r.call_id, r.gen), r.driver_id);
    // Claims it did not insert were there already (committed by now: the insert waited for them): whose are they?
    const held = claims.filter((e) => !recorded.has(fenceKey(e.call.id, e.gen)));
    if (held.length > 0) {
      const rows = await client.query<{ call_id: string; gen: number; driver_id: string }>({
        name: 'ledger-fence-held',
        text: 'SELECT call_id, gen, driver_id FROM call_assignments WHERE call_id = ANY($1::text[])',
        values: [[...new Set(held.map((e) => e.call.id))]],
      });
      for (const r of rows.rows) recorded.set(fenceKey(r.call_id, r.gen), r.driver_id);
    }
  }
  const { conflicts, events, latest } = afterFence(plan, recorded);
  if (events.length > 0) {
    await client.query({
      name: 'ledger-events',
      text: `INSERT INTO call_events (call_id, seq, status, driver_id, at, stream_id)
        SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::timestamptz[], $6::text[])
        ON CONFLICT DO NOTHING`,
      values: [column(events, (e) => e.call.id), column(events, (e) => e.call.seq), column(events, (e) => e.call.status),
        column(events, (e) => e.call.driverId), column(events, (e) => e.call.updatedAt), column(events, (e) => e.streamId)],
    });
  }
  if (latest.length > 0) {
    // The call row keeps the highest seq seen.
    await client.query({
      name: 'ledger-calls',
      text: `INSERT INTO calls (id, passenger_id, status, driver_id, pickup_lat, pickup_lng, dropoff_lat, dropoff_lng, json, seq, created_at, updated_at)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::json[],
          $10::int[], $11::timestamptz[], $12::timestamptz[])
        ON CONFLICT (id) DO UPDATE SET status = excluded.status, driver_id = excluded.driver_id, json = excluded.json, seq = excluded.seq,
          updated_at = excluded.updated_at
        WHERE excluded.seq > calls.seq`,
      values: [column(latest, (c) => c.id), column(latest, (c) => c.passengerId), column(latest, (c) => c.status), column(latest, (c) => c.driverId),
        column(latest, (c) => c.pickup.lat), column(latest, (c) => c.pickup.lng), column(latest, (c) => c.dropoff.lat), column(latest, (c) => c.dropoff.lng),
        column(latest, (c) => JSON.stringify(c)), column(latest, (c) => c.seq), column(latest, (c) => c.createdAt), column(latest, (c) => c.updatedAt)],
    });
  }
  return conflicts;
}
