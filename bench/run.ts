/**
 * `npm run bench [-- --quick] [--only a,b] [--matching a,b] [--profile|--no-profile] [--out FILE] [--json FILE] [--no-write]`
 *
 * Starts everything itself on this machine (a private redis-server, two gateways, one dispatcher,
 * raw baseline servers, load worker processes), runs the scenarios of the benchmark issue with the
 * raw stack measured in the same run, prints the table and writes BENCHMARKS.md. Every process it
 * starts is stopped at the end, on error and on Ctrl-C.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { runBench, type BenchOptions } from './lib/bench.js';
import { parseArgs, USAGE, type CliOptions } from './lib/cli.js';
import { killAllChildren, onInterrupt } from './lib/procs.js';
import { dropCreatedDatabases } from './lib/postgres.js';
import { markdown, mergeMarkdown, textTable } from './lib/report.js';
import { mergeOpsFeed, opsFeedMarkdown } from './lib/report-ops-feed.js';

async function main(): Promise<void> {
  let cli: CliOptions;
  try {
    cli = parseArgs(process.argv.slice(2));
    if (cli.help) {
      process.stdout.write(`${USAGE}\n`);
      return;
    }
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
  // The command as it bears on the figures (where the report goes does not).
  const args = process.argv.slice(2).filter((a, i, all) => !['--out', '--json', '--no-write'].includes(a) && !['--out', '--json'].includes(all[i - 1] ?? ''));
  const command = `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`;
  // The children first (their connections go with them), then the PostgreSQL databases of the run.
  onInterrupt(async () => {
    killAllChildren();
    await dropCreatedDatabases();
  });
  const t0 = performance.now();
  const log = (msg: string) => process.stderr.write(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
  const opts: BenchOptions = { mode: cli.mode, only: cli.only, matching: cli.matching, opsFeed: cli.opsFeed, log, command, ...(cli.profile === undefined ? {} : { profile: cli.profile }) };
  const result = await runBench(opts);
  process.stdout.write(`\n${textTable(result)}\n\n`);
  for (const e of result.meta.errors) process.stdout.write(`scenario ${e.scenario} FAILED: ${e.message.split('\n')[0] ?? ''}\n`);
  if (cli.json) writeFileSync(cli.json, `${JSON.stringify(result, null, 2)}\n`);
  if (cli.out) {
    let existing: string | null = null;
    try {
      existing = readFileSync(cli.out, 'utf8');
    } catch {
      existing = null;
    }
    // Each part of the file is written by the runs that measured it: `--only ops-feed` writes its
    // own section only, and leaves the generated part (and every hand-written one) as it was.
    const scenarios = result.meta.scenarios;
    let text = existing;
    if (scenarios.some((s) => s !== 'ops-feed')) text = mergeMarkdown(text, markdown(result));
    if (scenarios.includes('ops-feed')) text = mergeOpsFeed(text, opsFeedMarkdown(result));
    writeFileSync(cli.out, text ?? '');
    process.stdout.write(`written to ${cli.out} (${result.meta.elapsedS} s)\n`);
  }
  process.exitCode = result.meta.errors.length ? 1 : 0;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  killAllChildren();
  process.exit(1);
});
