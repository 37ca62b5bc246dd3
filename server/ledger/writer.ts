/**
 * Writes a batch of ledger stream entries into SQLite in one transaction, idempotently. The
 * statements are prepared once per database (the writer is on the dispatcher's hot path; building
 * and preparing queries per row cost more than the writes); their SQL follows schema.ts.
 */
import type Database from 'better-sqlite3';
import type { Call } from '../../protocol/index.js';
import type { LedgerDb } from './db.js';

export interface LedgerEntry {
  streamId: string;
  call: Call;
  /** The call's assignment generation when the change was made. */
  gen: number;
}

/** A second winner of one call and generation, refused by the ledger. */
export interface AssignmentConflict {
  callId: string;
  gen: number;
  recorded: string;
  refused: string;
  streamId: string;
}

interface Statements {
  assignment: Database.Statement<[string, number], { driverId: string }>;
  assign: Database.Statement<[string, number, string, number, string]>;
  event: Database.Statement<[string, number, string, string | null, string, string]>;
  call: Database.Statement<[string, string, string, string | null, number, number, number, number, string, number, string, string]>;
}

const prepared = new WeakMap<Database.Database, Statements>();

function statements(sqlite: Database.Database): Statements {
  let s = prepared.get(sqlite);
  if (!s) {
    s = {
      assignment: sqlite.prepare('SELECT driver_id AS driverId FROM call_assignments WHERE call_id = ? AND gen = ?'),
      assign: sqlite.prepare('INSERT INTO call_assignments (call_id, gen, driver_id, seq, at) VALUES (?, ?, ?, ?, ?)'),
      event: sqlite.prepare(
        'INSERT INTO call_events (call_id, seq, status, driver_id, at, stream_id) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      // The call row keeps the highest seq seen.
      call: sqlite.prepare(
        `INSERT INTO calls (id, passenger_id, status, driver_id, pickup_lat, pickup_lng, dropoff_lat, dropoff_lng, json, seq, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, driver_id = excluded.driver_id, json = excluded.json,
           seq = excluded.seq, updated_at = excluded.updated_at
         WHERE excluded.seq > calls.seq`,
      ),
    };
    prepared.set(sqlite, s);
  }
  return s;
}

/**
 * Apply entries: each status change is inserted once (primary key call + seq), and the call row
 * keeps the highest seq seen. Replaying any entry again changes nothing. A `dispatched` entry
 * whose call and generation already has another driver is refused and returned as a conflict.
 */
export function writeEntries(db: LedgerDb, entries: LedgerEntry[]): AssignmentConflict[] {
  const conflicts: AssignmentConflict[] = [];
  if (entries.length === 0) return conflicts;
  const sqlite = db.$client;
  const s = statements(sqlite);
  sqlite.transaction(() => {
    // The call row keeps the highest seq: one write per call per batch, of its latest change.
    const latest = new Map<string, Call>();
    for (const { streamId, call, gen } of entries) {
      if (call.status === 'dispatched' && call.driverId) {
        const prior = s.assignment.get(call.id, gen);
        if (prior && prior.driverId !== call.driverId) {
          conflicts.push({ callId: call.id, gen, recorded: prior.driverId, refused: call.driverId, streamId });
          continue;
        }
        if (!prior) s.assign.run(call.id, gen, call.driverId, call.seq, call.updatedAt);
      }
      s.event.run(call.id, call.seq, call.status, call.driverId, call.updatedAt, streamId);
      const seen = latest.get(call.id);
      if (!seen || call.seq > seen.seq) latest.set(call.id, call);
    }
    for (const call of latest.values()) {
      s.call.run(
        call.id, call.passengerId, call.status, call.driverId, call.pickup.lat, call.pickup.lng, call.dropoff.lat, call.dropoff.lng,
        JSON.stringify(call), call.seq, call.createdAt, call.updatedAt,
      );
    }
  })();
  return conflicts;
}
