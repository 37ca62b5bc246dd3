/**
 * Consumes the ledger stream with a consumer group and writes it into SQLite, acking (and then
 * deleting) entries only after the write. Entries a dead dispatcher left unacked are claimed after
 * LEDGER_CLAIM_IDLE_MS, so a kill -9 mid-batch loses nothing; the writer is idempotent, so a
 * re-delivered entry writes nothing twice.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Call } from '../../protocol/index.js';
import type { Metrics } from '../metrics.js';
import type { LedgerDb } from './db.js';
import { writeEntries, type LedgerEntry } from './writer.js';

export const LEDGER_GROUP = 'ledger';
const BATCH = 500;
const BLOCK_MS = 2000;

type RawEntry = [id: string, fields: string[] | null];

export interface LedgerConsumerOptions {
  /** A connection of its own: XREADGROUP BLOCK holds it. */
  redis: Redis;
  stream: string;
  db: LedgerDb;
  log: Logger;
  metrics?: Metrics;
  claimIdleMs: number;
}

export class LedgerConsumer {
  readonly name = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private running = false;
  private loop: Promise<void> | undefined;
  private lastClaim = 0;

  constructor(private readonly o: LedgerConsumerOptions) {}

  async start(): Promise<void> {
    await this.ensureGroup();
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.o.redis.disconnect();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.claimAbandoned();
        const reply = (await this.o.redis.xreadgroup(
          'GROUP', LEDGER_GROUP, this.name, 'COUNT', BATCH, 'BLOCK', BLOCK_MS, 'STREAMS', this.o.stream, '>',
        )) as [string, RawEntry[]][] | null;
        if (reply?.[0]) await this.apply(reply[0][1]);
      } catch (err) {
        if (!this.running) return;
        // A Redis that came back without its data has lost the group too: make it again.
        if (err instanceof Error && err.message.includes('NOGROUP')) await this.ensureGroup().catch(() => undefined);
        this.o.log.warn({ err }, 'ledger consumer: read failed, retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
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
      await this.apply(entries);
      cursor = next;
    } while (cursor !== '0-0' && this.running);
  }

  private async apply(raw: RawEntry[]): Promise<void> {
    const entries: LedgerEntry[] = [];
    for (const [streamId, fields] of raw) {
      if (!fields) continue;
      const field = (name: string) => (fields.indexOf(name) >= 0 ? fields[fields.indexOf(name) + 1] : undefined);
      const json = field('call');
      if (json) entries.push({ streamId, call: JSON.parse(json) as Call, gen: Number(field('gen') ?? 1) });
    }
    for (const conflict of writeEntries(this.o.db, entries)) {
      this.o.metrics?.ledgerConflicts.inc();
      this.o.log.error(conflict, 'ledger refused a second assignment of a call: Redis lost a winner');
    }
    const ids = raw.map(([id]) => id);
    if (ids.length === 0) return;
    await this.o.redis.multi().xack(this.o.stream, LEDGER_GROUP, ...ids).xdel(this.o.stream, ...ids).exec();
  }
}
