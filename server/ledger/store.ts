/**
 * What a ledger is, whichever database holds it (sqlite.ts, postgres.ts): the writer of stream
 * entries and the reads the gateways answer from it. planBatch is the part of a write both share:
 * the order rows are written in and which entries the assignment fence judges.
 */
import type { AdminAction, Call, CallStatus } from '../../protocol/index.js';

export interface LedgerEntry {
  streamId: string;
  call: Call;
  /** The call's assignment generation when the change was made. */
  gen: number;
}

/**
 * The second kind of ledger stream entry: an operator lever (`kind` = 'admin'), for admin_actions.
 * Its `id` is the stream entry id.
 */
export type AdminEntry = AdminAction;

/**
 * The third kind of ledger stream entry: a point of a trip's track (`kind` = 'track',
 * driver-location.lua), for call_tracks. One per call, assignment generation and point number.
 */
export interface TrackEntry {
  callId: string;
  gen: number;
  seq: number;
  driverId: string;
  lat: number;
  lng: number;
  /** ISO-8601 UTC. */
  at: string;
}

/** A point of a call's track as the ledger answers it: the trip's generation, its number in the trip, where and when. */
export type TrackPoint = Omit<TrackEntry, 'callId'>;

/** A second winner of one call and generation, refused by the ledger. */
export interface AssignmentConflict {
  callId: string;
  gen: number;
  recorded: string;
  refused: string;
  streamId: string;
}

/** One status change of a call, as the ledger keeps it. */
export interface CallEvent {
  seq: number;
  status: CallStatus;
  driverId: string | null;
  /** ISO-8601 UTC. */
  at: string;
}

/** A position in a listing: the time it is ordered by and the call id (ties). */
export interface Cursor {
  at: string;
  id: string;
}

export interface ClosedQuery {
  status?: CallStatus | undefined;
  limit: number;
  /** Calls that ended before this one (newest first). */
  before?: Cursor | undefined;
}

export interface ExportQuery {
  /** Created at or after (ISO-8601). */
  from: string;
  /** Created before (ISO-8601). */
  to: string;
  /** Calls created after this one (oldest first). */
  after?: Cursor | undefined;
  limit: number;
}

/** The reads the gateways answer from the ledger. */
export interface LedgerReads {
  /** The latest state of a call, or null when the ledger never saw it. */
  call(callId: string): Promise<Call | null>;
  /** Every status change of a call, oldest first ([] when the ledger never saw it). */
  history(callId: string): Promise<CallEvent[]>;
  /** Calls in a final status, the latest to end first. */
  closed(q: ClosedQuery): Promise<Call[]>;
  /** Calls created in [from, to), oldest first. */
  exportPage(q: ExportQuery): Promise<Call[]>;
  /** The call's track, oldest first (by generation, then point number; [] when none was kept). */
  track(callId: string): Promise<TrackPoint[]>;
  /** Operator levers, newest first, of one target when given. */
  adminActions(q: { targetId?: string | undefined; limit: number }): Promise<AdminAction[]>;
}

export interface Ledger extends LedgerReads {
  readonly backend: 'sqlite' | 'postgres';
  /**
   * Write a batch of entries in one transaction, idempotently: each change once (call + seq), the
   * call row at its highest seq, a second winner of a call and generation refused and returned.
   * Resolves only after the commit; rejects when nothing was written (the caller retries it all).
   * Operator levers (`admin`) go in the same transaction, each once (by stream id), and so do
   * track points (`track`), each once (call, generation, point number).
   */
  write(entries: LedgerEntry[], admin?: AdminEntry[], track?: TrackEntry[]): Promise<AssignmentConflict[]>;
  /** Resolves when the ledger answers (connected and migrated). */
  ping(): Promise<void>;
  /** True when a write failed on the data itself (it would fail again), not on the database being away. */
  refuses(err: unknown): boolean;
  close(): Promise<void>;
}

/** The fence key of an assignment. */
export const fenceKey = (callId: string, gen: number) => `${callId}\u0000${gen}`;

export interface BatchPlan {
  /** The entries in write order (call id, then seq), each change once. */
  ordered: LedgerEntry[];
  /** The first `dispatched` entry of each call and generation in the batch: the one the fence is asked about. */
  claims: LedgerEntry[];
}

/**
 * Rows are written in one fixed order (by call id, then seq), so two dispatchers writing
 * overlapping batches take their row locks in the same order (no deadlock between them), and a
 * replayed change appears once.
 */
export function planBatch(entries: readonly LedgerEntry[]): BatchPlan {
  const byChange = new Map<string, LedgerEntry>();
  for (const e of entries) {
    const key = `${e.call.id}\u0000${e.call.seq}`;
    if (!byChange.has(key)) byChange.set(key, e);
  }
  const ordered = [...byChange.values()].sort((a, b) => (a.call.id < b.call.id ? -1 : a.call.id > b.call.id ? 1 : a.call.seq - b.call.seq));
  const claims = new Map<string, LedgerEntry>();
  for (const e of ordered) {
    if (e.call.status !== 'dispatched' || !e.call.driverId) continue;
    const key = fenceKey(e.call.id, e.gen);
    if (!claims.has(key)) claims.set(key, e);
  }
  return { ordered, claims: [...claims.values()] };
}

/**
 * After the fence answered (recorded: the driver it holds for each call and generation claimed),
 * the entries refused, and what is written: the changes that were not refused, and each call's
 * latest of them.
 */
export function afterFence(plan: BatchPlan, recorded: ReadonlyMap<string, string>): {
  conflicts: AssignmentConflict[];
  events: LedgerEntry[];
  latest: Call[];
} {
  const conflicts: AssignmentConflict[] = [];
  const events: LedgerEntry[] = [];
  const latest = new Map<string, Call>();
  for (const e of plan.ordered) {
    if (e.call.status === 'dispatched' && e.call.driverId) {
      const holder = recorded.get(fenceKey(e.call.id, e.gen));
      if (holder !== undefined && holder !== e.call.driverId) {
        conflicts.push({ callId: e.call.id, gen: e.gen, recorded: holder, refused: e.call.driverId, streamId: e.streamId });
        continue;
      }
    }
    events.push(e);
    latest.set(e.call.id, e.call); // ordered by seq: the last one is the latest
  }
  return { conflicts, events, latest: [...latest.values()] };
}

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A time as both ledgers compare it: ISO-8601 UTC to the millisecond (a finer part is dropped, as Date does). */
export const isoMs = (t: string) => new Date(t).toISOString();

/** A cursor as the routes pass it: opaque base64url text. */
export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.at, c.id])).toString('base64url');
}

/** The cursor in a route's text, or undefined when it is not one this server made. */
export function decodeCursor(text: string): Cursor | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    // Only the form the server writes (ISO-8601 UTC with milliseconds): both databases read it alike.
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string' && ISO_MS.test(v[0]) && !Number.isNaN(Date.parse(v[0]))) {
      return { at: v[0], id: v[1] };
    }
  } catch {
    // not JSON: not a cursor
  }
  return undefined;
}
