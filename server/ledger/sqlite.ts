/**
 * The ledger in one SQLite file (WAL mode), the embedded default for one box. Statements are
 * prepared once per database (the writer is on the dispatcher's hot path; building and preparing
 * queries per row cost more than the writes); their SQL follows schema.ts. SQLite has one writer
 * at a time, so the fence's insert-then-read inside the transaction cannot race.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { TERMINAL_STATUSES, type AdminAction, type Call } from '../../protocol/index.js';
import * as schema from './schema.js';
import {
  afterFence, fenceKey, isoMs as iso, planBatch, type AssignmentConflict, type CallEvent, type ClosedQuery, type ExportQuery, type Ledger, type LedgerEntry,
  type AdminEntry, type TrackEntry, type TrackPoint,
} from './store.js';

const MIGRATIONS = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

type Row = { json: string };
type AdminRow = Omit<AdminAction, 'details' | 'targetType'> & { targetType: string; details: string };

function statements(sqlite: Database.Database) {
  const terminal = TERMINAL_STATUSES.map((s) => `'${s}'`).join(', ');
  return {
    assign: sqlite.prepare<[string, number, string, number, string]>(
      'INSERT INTO call_assignments (call_id, gen, driver_id, seq, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    assignment: sqlite.prepare<[string, number], { driverId: string }>('SELECT driver_id AS driverId FROM call_assignments WHERE call_id = ? AND gen = ?'),
    event: sqlite.prepare<[string, number, string, string | null, string, string]>(
      'INSERT INTO call_events (call_id, seq, status, driver_id, at, stream_id) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    // The call row keeps the highest seq seen.
    call: sqlite.prepare<[string, string, string, string | null, number, number, number, number, string, number, string, string]>(
      `INSERT INTO calls (id, passenger_id, status, driver_id, pickup_lat, pickup_lng, dropoff_lat, dropoff_lng, json, seq, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, driver_id = excluded.driver_id, json = excluded.json,
         seq = excluded.seq, updated_at = excluded.updated_at
       WHERE excluded.seq > calls.seq`,
    ),
    admin: sqlite.prepare<[string, string, string, string, string, string, string, string]>(
      `INSERT INTO admin_actions (id, admin_id, action, target_type, target_id, reason, at, details)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ),
    track: sqlite.prepare<[string, number, number, string, number, number, string]>(
      'INSERT INTO call_tracks (call_id, gen, seq, driver_id, lat, lng, at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    trackRead: sqlite.prepare<[string], TrackPoint>('SELECT gen, seq, driver_id AS driverId, lat, lng, at FROM call_tracks WHERE call_id = ? ORDER BY gen, seq'),
    adminRead: sqlite.prepare<{ target: string | null; limit: number }, AdminRow>(
      `SELECT id, admin_id AS adminId, action, target_type AS targetType, target_id AS targetId, reason, at, details FROM admin_actions
       WHERE (@target IS NULL OR target_id = @target) ORDER BY at DESC, id DESC LIMIT @limit`,
    ),
    one: sqlite.prepare<[string], Row>('SELECT json FROM calls WHERE id = ?'),
    history: sqlite.prepare<[string], CallEvent>('SELECT seq, status, driver_id AS driverId, at FROM call_events WHERE call_id = ? ORDER BY seq'),
    closed: sqlite.prepare<{ status: string | null; at: string | null; id: string; limit: number }, Row>(
      `SELECT json FROM calls WHERE status IN (${terminal}) AND (@status IS NULL OR status = @status)
         AND (@at IS NULL OR updated_at < @at OR (updated_at = @at AND id < @id))
       ORDER BY updated_at DESC, id DESC LIMIT @limit`,
    ),
    export: sqlite.prepare<{ from: string; to: string; at: string | null; id: string; limit: number }, Row>(
      `SELECT json FROM calls WHERE created_at >= @from AND created_at < @to
         AND (@at IS NULL OR created_at > @at OR (created_at = @at AND id > @id))
       ORDER BY created_at, id LIMIT @limit`,
    ),
  };
}

const parse = (rows: Row[]) => rows.map((r) => JSON.parse(r.json) as Call);

export class SqliteLedger implements Ledger {
  readonly backend = 'sqlite';
  readonly sqlite: Database.Database;
  private readonly s: ReturnType<typeof statements>;
  private readonly apply: (entries: LedgerEntry[], admin: AdminEntry[], track: TrackEntry[]) => AssignmentConflict[];

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.sqlite = new Database(path);
    this.sqlite.pragma('journal_mode = WAL');
    this.sqlite.pragma('synchronous = NORMAL');
    // Several dispatchers may share one file on one host: wait for the writer lock instead of failing.
    this.sqlite.pragma('busy_timeout = 5000');
    migrate(drizzle(this.sqlite, { schema }), { migrationsFolder: MIGRATIONS });
    this.s = statements(this.sqlite);
    this.apply = this.sqlite.transaction((entries: LedgerEntry[], admin: AdminEntry[], track: TrackEntry[]) => {
      for (const p of track) this.s.track.run(p.callId, p.gen, p.seq, p.driverId, p.lat, p.lng, iso(p.at));
      for (const a of admin) this.s.admin.run(a.id, a.adminId, a.action, a.targetType, a.targetId, a.reason, iso(a.at), JSON.stringify(a.details));
      return this.applyNow(entries);
    });
  }

  // async: a failure of the transaction is a rejection, as on PostgreSQL.
  // eslint-disable-next-line @typescript-eslint/require-await
  async write(entries: LedgerEntry[], admin: AdminEntry[] = [], track: TrackEntry[] = []): Promise<AssignmentConflict[]> {
    return entries.length === 0 && admin.length === 0 && track.length === 0 ? [] : this.apply(entries, admin, track);
  }

  private applyNow(entries: LedgerEntry[]): AssignmentConflict[] {
    const { s } = this;
    const plan = planBatch(entries);
    const recorded = new Map<string, string>();
    for (const { call, gen } of plan.claims) {
      s.assign.run(call.id, gen, call.driverId as string, call.seq, call.updatedAt);
      recorded.set(fenceKey(call.id, gen), (s.assignment.get(call.id, gen) as { driverId: string }).driverId);
    }
    const { conflicts, events, latest } = afterFence(plan, recorded);
    for (const { streamId, call } of events) s.event.run(call.id, call.seq, call.status, call.driverId, call.updatedAt, streamId);
    for (const call of latest) {
      s.call.run(
        call.id, call.passengerId, call.status, call.driverId, call.pickup.lat, call.pickup.lng, call.dropoff.lat, call.dropoff.lng,
        JSON.stringify(call), call.seq, call.createdAt, call.updatedAt,
      );
    }
    return conflicts;
  }

  /** Data SQLite refuses (a constraint, a type, a size): writing it again fails again. Busy or I/O errors are not. */
  refuses(err: unknown): boolean {
    const code = (err as { code?: unknown } | null)?.code;
    return typeof code === 'string' && /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG|RANGE)/.test(code);
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  call(callId: string): Promise<Call | null> {
    const row = this.s.one.get(callId);
    return Promise.resolve(row ? (JSON.parse(row.json) as Call) : null);
  }

  history(callId: string): Promise<CallEvent[]> {
    return Promise.resolve(this.s.history.all(callId));
  }

  closed(q: ClosedQuery): Promise<Call[]> {
    return Promise.resolve(parse(this.s.closed.all({
      status: q.status ?? null, at: q.before ? iso(q.before.at) : null, id: q.before?.id ?? '', limit: q.limit,
    })));
  }

  exportPage(q: ExportQuery): Promise<Call[]> {
    return Promise.resolve(parse(this.s.export.all({
      from: iso(q.from), to: iso(q.to), at: q.after ? iso(q.after.at) : null, id: q.after?.id ?? '', limit: q.limit,
    })));
  }

  track(callId: string): Promise<TrackPoint[]> {
    return Promise.resolve(this.s.trackRead.all(callId));
  }

  adminActions(q: { targetId?: string | undefined; limit: number }): Promise<AdminAction[]> {
    const rows = this.s.adminRead.all({ target: q.targetId ?? null, limit: q.limit });
    return Promise.resolve(rows.map((r) => ({ ...r, targetType: r.targetType as AdminAction['targetType'], details: JSON.parse(r.details) as Record<string, unknown> })));
  }

  close(): Promise<void> {
    this.sqlite.close();
    return Promise.resolve();
  }
}
