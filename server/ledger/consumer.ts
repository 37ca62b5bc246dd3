/**
 * Consumes the ledger stream with a consumer group and writes it into the ledger (SQLite or
 * PostgreSQL), acking and deleting entries only after their commit: the stream holds only what is
 * not yet written, and nothing ever trims it. Entries a dead dispatcher left unacked are claimed
 * after LEDGER_CLAIM_IDLE_MS, so a kill -9 mid-batch loses nothing; the writer is idempotent, so a
 * re-delivered entry writes nothing twice.
 *
 * An entry the database refuses for its data (not an outage) is found by halving the batch and
 * moved to a dead-letter stream, so it never holds up the others.
 *
 * When the ledger cannot be written (PostgreSQL down), dispatch goes on and entries wait in the
 * stream. The consumer backs off and retries its own pending entries first, never reading new
 * ones on top of them, so an outage parks at most one batch per dispatcher; once a write succeeds
 * it drains its pending entries, then claims and reads again.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isTerminal, type Call } from '../../protocol/index.js';
import type { Metrics } from '../metrics.js';
import type { AdminEntry, Ledger, LedgerEntry, TrackEntry } from './store.js';

export const LEDGER_GROUP = 'ledger';
const BATCH = 500;
const BLOCK_MS = 2000;
/** Back-off between failed writes: doubles from the first to the last. */
const BACKOFF_MS = [100, 5000] as const;

type RawEntry = [id: string, fields: string[] | null];

export type LedgerHealth = 'ok' | 'degraded';

export interface LedgerConsumerOptions {
  /** A connection of its own: XREADGROUP BLOCK holds it. */
  redis: Redis;
  stream: string;
  ledger: Ledger;
  log: Logger;
  metrics?: Metrics;
  claimIdleMs: number;
  /** The stream an entry the ledger refuses (its data, not an outage) is moved to, so it never blocks the others. */
  deadKey: string;
  /** When set, the ZSET each call is added to (scored by its end) once its final entry is committed: retention removes it from there. */
  endedKey?: string;
}

/** A failure of the ledger itself, not of Redis: the entries stay pending and are retried first. */
class WriteFailed extends Error {
  constructor(cause: unknown) {
    super('ledger write failed', { cause });
  }
}

export class LedgerConsumer {
  readonly name = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private running = false;
  private loop: Promise<void> | undefined;
  private lastClaim = 0;
  /** True while this consumer may have read entries it has not written (after a failed write, and at start). */
  private pending = true;
  private failures = 0;
  private wake: (() => void) | undefined;

  constructor(private readonly o: LedgerConsumerOptions) {}

  /** `degraded` while the last write failed (entries wait in the stream), else `ok`. */
  get health(): LedgerHealth {
    return this.failures > 0 ? 'degraded' : 'ok';
  }

  async start(): Promise<void> {
    await this.ensureGroup();
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    this.o.redis.disconnect();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (this.pending) {
          // Own pending entries first: those read before a failed write, oldest first.
          const mine = await this.read('0');
          if (mine.length > 0) await this.apply(mine);
          else this.pending = false;
          continue;
        }
        await this.claimAbandoned();
        if (this.pending) continue;
        const fresh = await this.read('>', BLOCK_MS);
        if (fresh.length > 0) await this.apply(fresh);
        else await this.probe();
      } catch (err) {
        if (!this.running) return;
        if (err instanceof WriteFailed) {
          this.pending = true;
          this.failures++;
          this.o.metrics?.ledgerWriteErrors.inc();
          const ms = Math.min(BACKOFF_MS[0] * 2 ** (this.failures - 1), BACKOFF_MS[1]);
          if (this.failures === 1 || this.failures % 20 === 0) {
            this.o.log.warn({ err: err.cause, failures: this.failures, retryInMs: ms }, 'ledger: write failed; entries wait in the stream, retrying');
          }
          await this.pause(ms);
          continue;
        }
        // A Redis that came back without its data has lost the group too: make it again.
        if (err instanceof Error && err.message.includes('NOGROUP')) await this.ensureGroup().catch(() => undefined);
        this.o.log.warn({ err }, 'ledger consumer: read failed, retrying');
        await this.pause(500);
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async read(from: '0' | '>', blockMs?: number): Promise<RawEntry[]> {
    const { redis, stream } = this.o;
    const reply = (blockMs === undefined
      ? await redis.xreadgroup('GROUP', LEDGER_GROUP, this.name, 'COUNT', BATCH, 'STREAMS', stream, from)
      : await redis.xreadgroup('GROUP', LEDGER_GROUP, this.name, 'COUNT', BATCH, 'BLOCK', blockMs, 'STREAMS', stream, from)) as [string, RawEntry[]][] | null;
    return reply?.[0]?.[1] ?? [];
  }

  private async ensureGroup(): Promise<void> {
    await this.o.redis.xgroup('CREATE', this.o.stream, LEDGER_GROUP, '0', 'MKSTREAM').catch((err: Error) => {
      if (!err.message.includes('BUSYGROUP')) throw err;
    });
  }

  /** Take over entries another consumer read but never acked (it died). */
  private async claimAbandoned(): Promise<void> {
    const now = Date.now();
    if (now - this.lastClaim < this.o.claimIdleMs / 2) return;
    this.lastClaim = now;
    let cursor = '0-0';
    do {
      const [next, entries] = (await this.o.redis.xautoclaim(
        this.o.stream, LEDGER_GROUP, this.name, this.o.claimIdleMs, cursor, 'COUNT', BATCH,
      )) as [string, RawEntry[]];
      // Claimed entries are this consumer's pending ones now: written before anything new is read.
      if (entries.length > 0) this.pending = true;
      await this.apply(entries);
      cursor = next;
    } while (cursor !== '0-0' && this.running);
  }

  /** With nothing to write, still find out whether the ledger answers (for /readyz and the metrics). */
  private async probe(): Promise<void> {
    try {
      await this.o.ledger.ping();
    } catch (err) {
      throw new WriteFailed(err);
    }
    this.failures = 0;
  }

  private async apply(raw: RawEntry[]): Promise<void> {
    if (raw.length === 0) return;
    const entries: LedgerEntry[] = [];
    const admin: AdminEntry[] = [];
    const track: TrackEntry[] = [];
    for (const [streamId, fields] of raw) {
      if (!fields) continue; // deleted after another consumer wrote it
      const kind = fieldOf(fields, 'kind');
      if (kind === 'track') {
        const point = parseTrack(fields);
        if (point) track.push(point);
        else this.o.log.error({ streamId }, 'ledger: a track point entry that does not parse, dropped');
        continue;
      }
      if (kind === 'admin') {
        const lever = parseAdmin(streamId, fields);
        if (lever) admin.push(lever);
        else this.o.log.error({ streamId }, 'ledger: an operator lever entry that does not parse, dropped');
        continue;
      }
      const entry = parseEntry(streamId, fields);
      if (entry) entries.push(entry);
      else this.o.log.error({ streamId }, 'ledger: an entry that is not a call change, dropped');
    }
    let conflicts;
    try {
      conflicts = await this.o.ledger.write(entries, admin, track);
    } catch (err) {
      if (!this.o.ledger.refuses(err)) throw new WriteFailed(err);
      // The data itself is refused: it would fail again. Find the entry by halves; the rest is written.
      if (raw.length > 1) {
        const half = Math.ceil(raw.length / 2);
        await this.apply(raw.slice(0, half));
        await this.apply(raw.slice(half));
      } else {
        await this.deadLetter(raw, err);
      }
      return;
    }
    if (this.failures > 0) this.o.log.info({ failures: this.failures }, 'ledger: writing again');
    this.failures = 0;
    for (const conflict of conflicts) {
      this.o.metrics?.ledgerConflicts.inc();
      this.o.log.error(conflict, 'ledger refused a second assignment of a call: Redis lost a winner');
    }
    this.o.metrics?.ledgerWritten.inc(entries.length);
    const ids = raw.map(([id]) => id);
    const tx = this.o.redis.multi();
    if (this.o.endedKey) {
      const ended = entries.filter((e) => isTerminal(e.call.status)).flatMap((e) => [Date.parse(e.call.updatedAt), e.call.id]);
      if (ended.length > 0) tx.zadd(this.o.endedKey, ...ended);
    }
    await tx.xack(this.o.stream, LEDGER_GROUP, ...ids).xdel(this.o.stream, ...ids).exec();
  }

  /** Move an entry the ledger refuses to the dead-letter stream (with why), then ack and delete it. */
  private async deadLetter(raw: RawEntry[], err: unknown): Promise<void> {
    const { redis, stream, deadKey } = this.o;
    const tx = redis.multi();
    for (const [id, fields] of raw) {
      this.o.log.error({ err, streamId: id }, 'ledger: the database refuses this entry; moved to the dead-letter stream');
      this.o.metrics?.ledgerDeadLetters.inc();
      tx.xadd(deadKey, '*', 'streamId', id, 'error', err instanceof Error ? err.message.slice(0, 500) : String(err), ...(fields ?? []));
    }
    const ids = raw.map(([id]) => id);
    await tx.xack(stream, LEDGER_GROUP, ...ids).xdel(stream, ...ids).exec();
  }
}

function fieldOf(fields: string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** Free text for a text column: PostgreSQL's text refuses U+0000 (the json columns keep it escaped), so both ledgers store U+FFFD for it. */
const textOf = (s: string) => s.replaceAll('\u0000', '\uFFFD');

/** An operator lever entry (`kind` = 'admin'): its `action` JSON, with the stream id as its id. */
function parseAdmin(streamId: string, fields: string[]): AdminEntry | undefined {
  try {
    const a = JSON.parse(fieldOf(fields, 'action') ?? 'null') as Partial<AdminEntry> | null;
    if (!a || typeof a.adminId !== 'string' || typeof a.action !== 'string' || typeof a.targetId !== 'string' || typeof a.at !== 'string') return undefined;
    if (a.targetType !== 'call' && a.targetType !== 'driver') return undefined;
    const details = typeof a.details === 'object' && a.details !== null && !Array.isArray(a.details) ? a.details : {};
    return { id: streamId, adminId: a.adminId, action: a.action, targetType: a.targetType, targetId: a.targetId, reason: typeof a.reason === 'string' ? textOf(a.reason) : '', at: a.at, details };
  } catch {
    return undefined;
  }
}

/** A track point entry (`kind` = 'track'): callId, driverId, gen, seq, lat, lng, at. */
function parseTrack(fields: string[]): TrackEntry | undefined {
  const callId = fieldOf(fields, 'callId');
  const driverId = fieldOf(fields, 'driverId');
  const at = fieldOf(fields, 'at');
  const [gen, seq, lat, lng] = ['gen', 'seq', 'lat', 'lng'].map((f) => Number(fieldOf(fields, f) ?? NaN)) as [number, number, number, number];
  if (!callId || !driverId || !at || Number.isNaN(Date.parse(at))) return undefined;
  if (!Number.isInteger(gen) || gen < 1 || !Number.isInteger(seq) || seq < 1 || !Number.isFinite(lat) || !Number.isFinite(lng)) return undefined;
  return { callId, driverId, gen, seq, lat, lng, at };
}

function parseEntry(streamId: string, fields: string[]): LedgerEntry | undefined {
  try {
    const call = JSON.parse(fieldOf(fields, 'call') ?? 'null') as Call | null;
    if (!call || typeof call.id !== 'string' || typeof call.seq !== 'number') return undefined;
    return { streamId, call, gen: Number(fieldOf(fields, 'gen') ?? 1) };
  } catch {
    return undefined;
  }
}
