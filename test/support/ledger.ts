/** Read the SQLite ledger the way an auditor would, and compare it with Redis. */
import Database from 'better-sqlite3';
import type { Redis } from 'ioredis';
import type { Call } from '../../protocol/index.js';
import type { Keys } from '../../server/redis/keys.js';

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
    const live = JSON.parse((await redis.hget(keys.call(id), 'json')) ?? 'null') as Call | null;
    if (!live) return `call ${id} missing in Redis`;
    const row = rows.get(id);
    if (!row || row.seq !== live.seq) return `call ${id}: ledger seq ${row?.seq} vs Redis ${live.seq}`;
    const seqs = ledger.events.filter((e) => e.callId === id).map((e) => e.seq);
    const want = Array.from({ length: live.seq }, (_, i) => i + 1);
    if (JSON.stringify(seqs) !== JSON.stringify(want)) return `call ${id}: history seqs ${seqs.join(',')}`;
  }
  return null;
}
