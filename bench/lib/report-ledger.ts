/** The ledger's part of the report (SQLite beside PostgreSQL): its target rows and its section of BENCHMARKS.md. */
import type { LedgerWriterResult } from '../tasks/ledger-writer.js';
import type { LedgerResult, LedgerStackRun, Spread } from './ledger.js';
import { SUSTAIN, TARGETS, type Plan } from './plan.js';
import type { Row } from './report.js';

const n = (v: number | null | undefined) => (v === null || v === undefined ? '-' : v.toLocaleString('en-US'));
const verdict = (ok: boolean | null): Row['verdict'] => (ok === null ? '—' : ok ? 'met' : 'MISSED');
const ratio = (a: number | null | undefined, b: number | null | undefined) => {
  if (a === null || a === undefined || b === null || b === undefined || b === 0) return '-';
  const r = a / b;
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
};
const sp = (s: Spread | null, unit = '') => (s ? `${n(s.p50)} / ${n(s.p99)} / ${n(s.max)}${unit}` : '-');

const writerOf = (l: LedgerResult, b: LedgerWriterResult['backend']) => l.writer.find((w) => w.backend === b);
const stackOf = (l: LedgerResult, b: 'sqlite' | 'postgres') => l.stack.find((s) => s.backend === b);

/** The lag verdict: the oldest unwritten entry, at its worst while the calls were made. */
export function lagMet(s: LedgerStackRun | undefined): boolean | null {
  return s?.lagS ? s.lagS.max < TARGETS.ledgerLagS : null;
}

/** The CPU verdict: PostgreSQL's writer (Node + its backends) against SQLite's (in-process). */
/**
 * The CPU target, judged both ways: `process` compares the writer process (the dispatcher's Node
 * process, where SQLite also does its SQL work); `whole` adds PostgreSQL's backend to it.
 */
export function cpuMet(l: LedgerResult, how: 'process' | 'whole' = 'whole'): boolean | null {
  const sq = writerOf(l, 'sqlite');
  const pg = writerOf(l, 'postgres');
  if (!sq || !pg) return null;
  return (how === 'whole' ? pg.totalUsPerEntry : pg.nodeUsPerEntry) <= TARGETS.ledgerCpuRatio * sq.totalUsPerEntry;
}

function why(l: LedgerResult, part: string): string {
  if (!l.postgres.available) return `PostgreSQL not reachable (${l.postgres.reason ?? '?'})`;
  return l.skipped.find((x) => x.includes(part)) ?? 'not run';
}

export function ledgerRows(l: LedgerResult, plan: Plan['ledger']): Row[] {
  const out: Row[] = [];
  const sq = writerOf(l, 'sqlite');
  const pg = writerOf(l, 'postgres');
  const row = (figure: string, product: string, raw: string, r: string, target: string, ok: boolean | null) =>
    out.push({ scenario: 'ledger', figure, product, raw, ratio: r, target, verdict: verdict(ok) });
  const sqliteW = sq ? `SQLite ${n(sq.perS)}/s` : '-';
  row(`writer entries/s, ${n(plan.entries)} entries in batches of ${plan.batch} (PostgreSQL beside SQLite)`,
    pg ? `PostgreSQL ${n(pg.perS)}/s` : why(l, 'writer'), sqliteW, ratio(pg?.perS, sq?.perS), 'reported', null);
  row('writer process CPU µs per entry (the Node process that writes; SQLite does its SQL work in it)',
    pg ? `PostgreSQL ${pg.nodeUsPerEntry} µs` : why(l, 'writer'),
    sq ? `SQLite ${sq.totalUsPerEntry} µs` : '-', ratio(pg?.nodeUsPerEntry, sq?.totalUsPerEntry),
    `≤ ${TARGETS.ledgerCpuRatio}× SQLite (the process)`, cpuMet(l, 'process'));
  row('writer CPU µs per entry with the database server: PostgreSQL = Node + its backend, SQLite = in-process',
    pg ? `${pg.nodeUsPerEntry} + ${pg.serverUsPerEntry ?? '?'} = ${pg.totalUsPerEntry} µs` : why(l, 'writer'),
    sq ? `SQLite ${sq.totalUsPerEntry} µs` : '-', ratio(pg?.totalUsPerEntry, sq?.totalUsPerEntry),
    `≤ ${TARGETS.ledgerCpuRatio}× SQLite (Node + backend)`, cpuMet(l));
  const ss = stackOf(l, 'sqlite');
  const ps = stackOf(l, 'postgres');
  const at = (s: LedgerStackRun | undefined) => (s ? ` (${s.step.load.achievedRate}/s achieved${s.step.sustained ? '' : ', not sustained'})` : '');
  row(`ledger entries/s written at ${plan.rate} calls/s${at(ps)}`,
    ps ? `PostgreSQL ${n(ps.writtenPerS)}/s` : why(l, 'stack'), ss ? `SQLite ${n(ss.writtenPerS)}/s` : '-', ratio(ps?.writtenPerS, ss?.writtenPerS), 'reported', null);
  row(`ledger lag at ${plan.rate} calls/s${at(ps)}: age of the oldest unwritten entry p50 / p99 / max`,
    ps ? `PostgreSQL ${sp(ps.lagS, ' s')}` : why(l, 'stack'), ss ? `SQLite ${sp(ss.lagS, ' s')}` : '-', ratio(ps?.lagS?.max, ss?.lagS?.max),
    `PostgreSQL max < ${TARGETS.ledgerLagS} s`, plan.rate === TARGETS.ledgerRate ? lagMet(ps) : null);
  row(`ledger backlog at ${plan.rate} calls/s: stream entries not yet written p50 / p99 / max`,
    ps ? `PostgreSQL ${sp(ps.lagEntries)}` : why(l, 'stack'), ss ? `SQLite ${sp(ss.lagEntries)}` : '-', ratio(ps?.lagEntries?.max, ss?.lagEntries?.max), 'reported', null);
  return out;
}

function writerRow(w: LedgerWriterResult): string {
  const name = w.backend === 'sqlite' ? 'SQLite (SqliteLedger)' : 'PostgreSQL (PostgresLedger)';
  return `| ${name} | ${n(w.entries)} | ${w.wallS} | ${n(w.perS)} | ${w.nodeUsPerEntry} | ${w.serverUsPerEntry ?? '— (in-process)'}${w.backends ? ` (${w.backends} backend${w.backends > 1 ? 's' : ''})` : ''} | ` +
    `**${w.totalUsPerEntry}** | ${w.allPostgresUsPerEntry ?? '-'} | ${w.conflicts} |`;
}

function stackRow(s: LedgerStackRun): string {
  const c = s.step.load.report.calls;
  const total = s.dispatcherUsPerEntry === null ? null : Math.round((s.dispatcherUsPerEntry + (s.server?.usPerEntry ?? 0)) * 10) / 10;
  return `| ${s.backend === 'sqlite' ? 'SQLite' : 'PostgreSQL'} | ${s.rate} (${s.step.load.achievedRate} achieved) | ${n(c.requested)} / ${n(c.dispatched)} / ${n(c.completed)} | ` +
    `${s.step.sustained ? 'yes' : `**no**: ${s.step.why.join('; ')}`} | ${s.entriesPerCall ?? '-'} | ${n(s.producedPerS)} | ${n(s.writtenPerS)} | ${sp(s.lagEntries)} | ${sp(s.lagS)} | ` +
    `${s.afterMax ? `${n(s.afterMax.entries)} / ${s.afterMax.s} s` : '-'} | ${s.emptyAfterS === null ? 'not empty' : `${s.emptyAfterS} s`} | ` +
    `${s.dispatcherPct ?? '-'} % (${s.dispatcherUsPerEntry ?? '-'} µs) | ${s.server ? `${s.server.pct} % (${s.server.usPerEntry ?? '-'} µs), ${s.server.backends} backends` : '—'} | ` +
    `${total ?? '-'} | ${s.allPostgres ? `${s.allPostgres.pct} % (${s.allPostgres.usPerEntry ?? '-'} µs)` : '—'} |`;
}

export function ledgerMarkdown(l: LedgerResult, plan: Plan['ledger']): string[] {
  const L: string[] = ['', '### Ledger: SQLite beside PostgreSQL', ''];
  L.push(l.postgres.available
    ? `PostgreSQL ${l.postgres.version ?? '?'} at \`${l.postgres.url}\` (this machine, loopback, its own settings), a fresh database per part (\`CREATE DATABASE bench_…\`, dropped after); ` +
      'SQLite a fresh file in a temporary folder (WAL, synchronous=NORMAL, as server/ledger/sqlite.ts opens it).'
    : `**PostgreSQL not reachable** at \`${l.postgres.url}\` (${l.postgres.reason ?? '?'}): the PostgreSQL half was skipped.`);
  for (const s of l.skipped) L.push('', `**Skipped:** ${s}`);
  L.push('', `**The writer alone** (\`bench/tasks/ledger-writer.ts\`, in a load worker): the same ${n(plan.entries)} entries (rides of six statuses, as \`bench/tasks/micro.ts\` builds them) ` +
    `written in batches of ${plan.batch} one after the other, through the product's \`SqliteLedger\` and \`PostgresLedger\` (after a warm-up of two batches; migrations not counted). ` +
    'CPU per entry: the Node process (`process.cpuUsage`, user + system, every thread); for PostgreSQL also its server — the backend processes serving the bench\'s database ' +
    '(found in `pg_stat_activity` by database, which is the bench\'s own; utime + stime from `/proc/<pid>/stat`). SQLite does its SQL work in the Node process, PostgreSQL in its backend: ' +
    'the whole writer is Node + backend, and that is the figure compared. The last column is every `postgres` process of the machine over the same window (WAL writer, checkpointer, ' +
    'and any other session on the server: an upper figure).', '');
  L.push('| backend | entries | s | entries/s | Node CPU µs/entry | backend CPU µs/entry | **writer CPU µs/entry** (Node + backend) | all postgres processes µs/entry | conflicts |',
    '|---|---|---|---|---|---|---|---|---|');
  for (const w of l.writer) L.push(writerRow(w));
  L.push('', `**The stack at ${plan.rate} calls/s** (the load step of the throughput scenario: \`runLoad\`, ${plan.durationS} s, drain ≤ ${plan.drainMs / 1000} s), ` +
    'each backend on a fresh stack (2 gateways, 1 dispatcher; SQLite at DB_PATH, PostgreSQL with DATABASE_URL). ' +
    `The ledger stream sampled every ${plan.sampleMs} ms while the calls were made: its length (XLEN; written entries are deleted, so it is the backlog) and the age of its oldest entry ` +
    '(XRANGE - + COUNT 1, the id\'s milliseconds against now). Entries written from the dispatcher\'s `dispatch_ledger_entries_written_total`; produced = written + the backlog\'s growth. ' +
    'CPU in % of one core over the calls, and µs per entry written: the dispatcher does all of dispatch besides the writer, so its difference between the two backends is the writer\'s.', '');
  L.push('| backend | calls/s | requested / dispatched / completed | sustained | entries per call | produced/s | written/s | backlog p50 / p99 / max (entries) | oldest entry p50 / p99 / max (s) | after the calls: max backlog / age | stream empty after | dispatcher CPU | PostgreSQL backends CPU | dispatcher + backends µs/entry | all postgres processes |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const s of l.stack) L.push(stackRow(s));

  // The verdicts, each with what it compares.
  const sq = writerOf(l, 'sqlite');
  const pg = writerOf(l, 'postgres');
  const ps = stackOf(l, 'postgres');
  const ss = stackOf(l, 'sqlite');
  L.push('');
  const lag = plan.rate === TARGETS.ledgerRate ? lagMet(ps) : null;
  const fed = (x: LedgerStackRun) => `${n(x.producedPerS)} entries/s`;
  const reached = (x: LedgerStackRun) => x.step.load.achievedRate >= plan.rate * SUSTAIN.minAchieved;
  L.push(`- Target "PostgreSQL keeps the lag under ${TARGETS.ledgerLagS} s at ${TARGETS.ledgerRate} calls/s": ` + (ps?.lagS
    ? `**${lag === null ? `not judged (this run is at ${plan.rate} calls/s)` : lag ? 'met' : 'MISSED'}** — the oldest unwritten entry was at most ${ps.lagS.max} s old (p50 ${ps.lagS.p50} s, p99 ${ps.lagS.p99} s) ` +
      `over ${ps.samples} samples while ${ps.step.load.achievedRate} calls/s were made (the ledger fed ${fed(ps)})${ss?.lagS ? `; SQLite at most ${ss.lagS.max} s (fed ${fed(ss)})` : ''}.` +
      (reached(ps) ? '' : ` **The stack did not make ${plan.rate} calls/s** (${ps.step.why.join('; ')}): the lag is judged at the rate it reached, not at ${plan.rate}/s.`) +
      (pg && ps.entriesPerCall ? ` Headroom: the PostgreSQL writer alone wrote ${n(pg.perS)} entries/s, ${ratio(pg.perS, plan.rate * ps.entriesPerCall)} the ${n(Math.round(plan.rate * ps.entriesPerCall))} entries/s that ${plan.rate} calls/s × ${ps.entriesPerCall} entries per call make.` : '')
    : `**not judged** (${why(l, 'stack')}).`));
  const cpu = cpuMet(l);
  const own = cpuMet(l, 'process');
  L.push(`- Target "PostgreSQL's writer CPU per entry within ${TARGETS.ledgerCpuRatio}× SQLite's": ` + (sq && pg
    ? `**${own ? 'met' : 'MISSED'} for the writer process, ${cpu ? 'met' : 'MISSED'} with the database server's CPU added** — the process that writes: ` +
      `PostgreSQL ${pg.nodeUsPerEntry} µs against SQLite ${sq.totalUsPerEntry} µs = ${ratio(pg.nodeUsPerEntry, sq.totalUsPerEntry)}; with the server: the writer's whole CPU, PostgreSQL ${pg.totalUsPerEntry} µs (Node ${pg.nodeUsPerEntry} + backend ${pg.serverUsPerEntry ?? '?'}) ` +
      `against SQLite ${sq.totalUsPerEntry} µs (in-process) = ${ratio(pg.totalUsPerEntry, sq.totalUsPerEntry)} ` +
      '(PostgreSQL parses, plans and logs every statement in its own process, where SQLite\'s in-process engine does the same work inside the writer)' +
      `${pg.allPostgresUsPerEntry !== null ? `; Node + every postgres process: ${Math.round((pg.nodeUsPerEntry + pg.allPostgresUsPerEntry) * 10) / 10} µs = ${ratio(pg.nodeUsPerEntry + pg.allPostgresUsPerEntry, sq.totalUsPerEntry)}` : ''}.`
    : `**not judged** (${why(l, 'writer')}).`));
  if (ss?.dispatcherUsPerEntry != null && ps?.dispatcherUsPerEntry != null) {
    const pgAll = Math.round((ps.dispatcherUsPerEntry + (ps.server?.usPerEntry ?? 0)) * 10) / 10;
    L.push(`- End to end at ${plan.rate} calls/s (reported, not a target): per entry written, the dispatcher took ${ss.dispatcherUsPerEntry} µs with SQLite and ` +
      `${ps.dispatcherUsPerEntry} µs + ${ps.server?.usPerEntry ?? '?'} µs in PostgreSQL's backends = ${pgAll} µs with PostgreSQL (${ratio(pgAll, ss.dispatcherUsPerEntry)}); ` +
      `dispatch being the same work, the difference (${Math.round((pgAll - ss.dispatcherUsPerEntry) * 10) / 10} µs) is the writer's, within the noise of one run of each.`);
  }
  return L;
}
