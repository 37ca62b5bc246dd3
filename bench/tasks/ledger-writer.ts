/**
 * The ledger writer alone (in a load worker): the same entries (rides of six statuses each, as
 * bench/tasks/micro.ts builds them) written in batches of 500 through the product's SqliteLedger or
 * PostgresLedger, one batch after the other as the consumer writes them. Reported: entries/s and
 * CPU µs per entry, of this Node process (process.cpuUsage: every thread, user + system) and, for
 * PostgreSQL, of the server's backends serving the bench's database (/proc/<pid>/stat), and of
 * every postgres process of the machine over the same window.
 *
 * Not measured: opening the ledger, its migrations, and a warm-up of two batches of other rides
 * (JIT, prepared statements, the first connection).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresLedger } from '../../server/ledger/postgres.js';
import { SqliteLedger } from '../../server/ledger/sqlite.js';
import type { AssignmentConflict, LedgerEntry } from '../../server/ledger/store.js';
import { AllPostgresCpu, BackendCpu } from '../lib/postgres.js';
import { entries } from './micro.js';

export type WriterVariant = 'sqlite' | 'postgres';

export interface LedgerWriterArgs {
  backend: WriterVariant;
  entries: number;
  batch: number;
  /** PostgreSQL only: the bench's fresh database, and the server's admin database (for the monitor). */
  postgres?: { url: string; adminUrl: string; database: string };
}

export interface LedgerWriterResult {
  backend: WriterVariant;
  entries: number;
  batch: number;
  wallS: number;
  perS: number;
  /** CPU of the Node process doing the writes, µs per entry. */
  nodeUsPerEntry: number;
  /** PostgreSQL: CPU of the backends serving the bench's database, µs per entry (null: SQLite, in-process). */
  serverUsPerEntry: number | null;
  /** PostgreSQL: how many backends that was. */
  backends: number | null;
  /** PostgreSQL: CPU of every postgres process of the machine over the same window (helpers and other sessions too), µs per entry. */
  allPostgresUsPerEntry: number | null;
  /** Node + server, the writer's whole CPU per entry. */
  totalUsPerEntry: number;
  conflicts: number;
}

const r1 = (v: number) => Math.round(v * 10) / 10;
const perEntry = (cpuS: number, n: number) => r1((cpuS * 1e6) / n);

interface Writer {
  write(entries: LedgerEntry[]): Promise<AssignmentConflict[]>;
  close(): Promise<void>;
}

export async function ledgerWriter(a: LedgerWriterArgs): Promise<LedgerWriterResult> {
  const dir = a.backend === 'sqlite' ? mkdtempSync(join(tmpdir(), 'dispatch-bench-ledger-')) : null;
  const pgArgs = a.postgres;
  if (a.backend !== 'sqlite' && !pgArgs) throw new Error(`ledgerWriter: ${a.backend} needs a database`);
  let ledger: Writer | undefined;
  try {
    if (dir) ledger = new SqliteLedger(join(dir, 'ledger.db'));
    else {
      const product = new PostgresLedger({ url: (pgArgs as NonNullable<typeof pgArgs>).url });
      ledger = product;
      await product.ping(); // connected and migrated
    }
    const warm = entries(2 * a.batch, 'w');
    for (let i = 0; i < warm.length; i += a.batch) await ledger.write(warm.slice(i, i + a.batch));
    const batches: LedgerEntry[][] = [];
    const all = entries(a.entries, 'r');
    for (let i = 0; i < all.length; i += a.batch) batches.push(all.slice(i, i + a.batch));
    (globalThis as { gc?: () => void }).gc?.();

    const backends = pgArgs ? new BackendCpu(pgArgs.adminUrl, pgArgs.database) : null;
    await backends?.start();
    const everyPg = pgArgs ? new AllPostgresCpu() : null;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let conflicts = 0;
    for (const b of batches) conflicts += (await ledger.write(b)).length;
    const wallS = (performance.now() - t0) / 1000;
    const c = process.cpuUsage(c0);
    const every = everyPg?.stop() ?? null;
    const server = backends ? await backends.stop() : null;

    const n = all.length;
    const nodeUs = perEntry((c.user + c.system) / 1e6, n);
    const serverUs = server ? perEntry(server.cpuS, n) : null;
    return {
      backend: a.backend, entries: n, batch: a.batch,
      wallS: Math.round(wallS * 1000) / 1000,
      perS: Math.round(n / wallS),
      nodeUsPerEntry: nodeUs,
      serverUsPerEntry: serverUs,
      backends: server?.backends ?? null,
      allPostgresUsPerEntry: every ? perEntry(every.cpuS, n) : null,
      totalUsPerEntry: r1(nodeUs + (serverUs ?? 0)),
      conflicts,
    };
  } finally {
    await ledger?.close().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
