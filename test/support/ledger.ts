/**
 * The ledger in tests: read the SQLite file the way an auditor would, compare any ledger (SQLite or
 * PostgreSQL, through its own reads) with Redis, and make a fresh store of either backend (a temp
 * file, or a database of its own on the shared PostgreSQL server) with as many independent Ledger
 * instances on it as a test needs (one per "dispatcher").
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Redis } from 'ioredis';
import type { Call } from '../../protocol/index.js';
import { PostgresLedger } from '../../server/ledger/postgres.js';
import { SqliteLedger } from '../../server/ledger/sqlite.js';
import type { Ledger, LedgerReads } from '../../server/ledger/store.js';
import type { Keys } from '../../server/redis/keys.js';
import { tempDir } from './env.js';
import { createTestDatabase, query } from './postgres.js';

export interface LedgerRow {
  callId: string;
  seq: number;
  status: string;
}

export function readLedger(path: string): { events: LedgerRow[]; calls: Call[] } {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const events = db.prepare('SELECT call_id AS callId, seq, status FROM call_events ORDER BY call_id, seq').all() as LedgerRow[];
    const calls = (db.prepare('SELECT json FROM calls').all() as { json: string }[]).map((r) => JSON.parse(r.json) as Call);
    return { events, calls };
  } finally {
    db.close();
  }
}

/** The seqs 1..n, as a complete history of a call at seq n has them. */
const seqsUpTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

/** The call in Redis (null when it is not there). */
async function liveCall(redis: Redis, keys: Keys, id: string): Promise<Call | null> {
  return JSON.parse((await redis.hget(keys.call(id), 'json')) ?? 'null') as Call | null;
}

/**
 * Null when the ledger holds exactly what Redis holds for these calls: the latest call row equals
 * the Redis call and the history has every seq from 1 to it once; else a description of the gap.
 */
export async function ledgerMismatch(path: string, redis: Redis, keys: Keys, callIds: string[]): Promise<string | null> {
  let ledger;
  try {
    ledger = readLedger(path);
  } catch (err) {
    return `ledger not readable: ${(err as Error).message}`;
  }
  const rows = new Map(ledger.calls.map((c) => [c.id, c]));
  for (const id of callIds) {
    const live = await liveCall(redis, keys, id);
    if (!live) return `call ${id} missing in Redis`;
    const row = rows.get(id);
    if (!row || row.seq !== live.seq) return `call ${id}: ledger seq ${row?.seq} vs Redis ${live.seq}`;
    const seqs = ledger.events.filter((e) => e.callId === id).map((e) => e.seq);
    if (JSON.stringify(seqs) !== JSON.stringify(seqsUpTo(live.seq))) return `call ${id}: history seqs ${seqs.join(',')}`;
  }
  return null;
}

/**
 * ledgerMismatch for any backend, through the ledger's own reads (call, history): null when, for
 * every call, the ledger's call equals the Redis call and its history has every seq from 1 to it
 * once, each with the status and driver the call had then where Redis says (its latest); else what
 * differs. A ledger that does not answer is a mismatch (described), not a failure.
 */
export async function ledgerMismatchOf(ledger: LedgerReads, redis: Redis, keys: Keys, callIds: string[]): Promise<string | null> {
  for (const id of callIds) {
    const live = await liveCall(redis, keys, id);
    if (!live) return `call ${id} missing in Redis`;
    let row: Call | null;
    let history;
    try {
      [row, history] = await Promise.all([ledger.call(id), ledger.history(id)]);
    } catch (err) {
      return `ledger not readable: ${(err as Error).message}`;
    }
    if (!row || row.seq !== live.seq) return `call ${id}: ledger seq ${row?.seq} vs Redis ${live.seq}`;
    if (JSON.stringify(sortKeys(row)) !== JSON.stringify(sortKeys(live))) return `call ${id}: ledger ${JSON.stringify(row)} vs Redis ${JSON.stringify(live)}`;
    const seqs = history.map((e) => e.seq);
    if (JSON.stringify(seqs) !== JSON.stringify(seqsUpTo(live.seq))) return `call ${id}: history seqs ${seqs.join(',')}`;
    const last = history.at(-1)!;
    if (last.status !== live.status || last.driverId !== live.driverId || last.at !== live.updatedAt) {
      return `call ${id}: last history event ${JSON.stringify(last)} vs Redis ${live.status}/${live.driverId}/${live.updatedAt}`;
    }
  }
  return null;
}

/** A JSON value with its object keys sorted (PostgreSQL's jsonb does not keep the key order). */
function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, x]) => [k, sortKeys(x)]));
  return v;
}

// ---- a store of either backend ----

export type Backend = 'sqlite' | 'postgres';
export const BACKENDS: readonly Backend[] = ['sqlite', 'postgres'];

export interface TestStore {
  backend: Backend;
  /** What a stack's processes need to use this store (startStack's env): DB_PATH or DATABASE_URL. */
  env: Record<string, string>;
  /** A new Ledger on this store, independent of the others (its own connection or pool); closed by drop(). */
  open(): Ledger;
  /** Run one SQL statement on a connection of its own (SQLite: `?` parameters; PostgreSQL: `$1`). */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Close every Ledger open() made that is still open, and remove the store. Safe twice. */
  drop(): Promise<void>;
}

/** A fresh empty store: SQLite in a new temp file, or a new database on the shared PostgreSQL server. */
export async function testStore(backend: Backend): Promise<TestStore> {
  const opened: Ledger[] = [];
  const track = (ledger: Ledger): Ledger => {
    // Closing twice is a test's mistake, not the product's: the pool refuses a second end().
    let closing: Promise<void> | undefined;
    const close = ledger.close.bind(ledger);
    ledger.close = () => (closing ??= close());
    opened.push(ledger);
    return ledger;
  };
  const closeAll = () => Promise.all(opened.splice(0).map((l) => l.close().catch(() => undefined)));

  if (backend === 'sqlite') {
    const path = join(tempDir(), 'ledger.db');
    return {
      backend,
      env: { DB_PATH: path },
      open: () => track(new SqliteLedger(path)),
      query<T>(sql: string, params: unknown[] = []) {
        const db = new Database(path, { readonly: true, fileMustExist: true });
        try {
          return Promise.resolve(db.prepare(sql).all(...params) as T[]);
        } finally {
          db.close();
        }
      },
      async drop() {
        await closeAll();
      },
    };
  }

  const db = await createTestDatabase();
  return {
    backend,
    env: { DATABASE_URL: db.url },
    open: () => track(new PostgresLedger({ url: db.url })),
    query: <T>(sql: string, params: unknown[] = []) => query<T>(db.url, sql, params),
    async drop() {
      await closeAll();
      await db.drop();
    },
  };
}
