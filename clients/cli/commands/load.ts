/** `dispatch load`: the whole loop under load in one process, then a report (text or --json). */
import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import type { LatLng } from '../../../protocol/index.js';
import {
  intIn, numberIn, parsePoint, parseRange, withConnection, type ConnectionOptions,
} from '../options.js';
import { formatReport, invariantsHold } from '../report.js';
import { stopSignals } from '../signals.js';
import { DEFAULT_CENTER, runLoad, type LoadProgress } from '../sim/load.js';
import { bar, StatusLine } from '../tty.js';

export interface LoadCommandOptions extends ConnectionOptions {
  drivers: number;
  riders: number;
  rate: number;
  duration: number;
  near: LatLng;
  spreadM: number;
  acceptRate: number;
  acceptDelayMs: [number, number];
  tripMs: number;
  drainMs: number;
  json?: boolean;
  out?: string;
}

/** The `load` command definition. */
export function loadCommand(): Command {
  return withConnection(
    new Command('load')
      .description('load-test the whole loop: simulated drivers and riders, calls at a steady rate, then a report')
      .addOption(new Option('--drivers <n>', 'simulated drivers').argParser(intIn(1, 100_000)).makeOptionMandatory())
      .addOption(new Option('--riders <m>', 'simulated riders (each has one call at a time)').argParser(intIn(1, 100_000)).makeOptionMandatory())
      .addOption(new Option('--rate <r>', 'calls per second, over all riders').argParser(numberIn(0.001)).makeOptionMandatory())
      .addOption(new Option('--duration <s>', 'seconds of calling').argParser(numberIn(0.001)).makeOptionMandatory())
      .addOption(new Option('--near <lat,lng>', 'centre of the area (drivers and pickups)').argParser(parsePoint).default(DEFAULT_CENTER, `${DEFAULT_CENTER.lat},${DEFAULT_CENTER.lng}`))
      .option('--spread-m <m>', 'radius of the area, in metres', intIn(1, 1_000_000), 2000)
      .option('--accept-rate <p>', 'probability that a driver accepts an offer', numberIn(0, 1), 1)
      .addOption(new Option('--accept-delay-ms <min-max>', 'delay before a driver answers an offer').argParser(parseRange).default([0, 50], '0-50'))
      .option('--trip-ms <ms>', 'length of each trip (arrived → started → completed)', intIn(0), 500)
      .option('--drain-ms <ms>', 'after the run, wait at most this long for calls under way to end', intIn(0), 30_000)
      .option('--json', 'print the report as one JSON object')
      .option('--out <file>', 'also write the JSON report to this file'),
  )
    .addHelpText('after', `
Latencies are measured at the clients: request → first offer to any driver, a driver's accept →
the rider told "dispatched", request → dispatched. Invariants: doubleAssignments (a call won by two
drivers, a rider told two drivers, a driver with two trips) and lostCalls (an acked call neither
dispatched nor ended by the end of the drain).
Every simulated user connects from this machine: a server limit on connection attempts per
address slows the start of a large run (clients retry with backoff).
Exit status: 0 when the invariants hold, 1 when one breaks, 2 when the test could not run.
Ctrl-C stops calling and drains; a second Ctrl-C ends the drain.`)
    .action(async (o: LoadCommandOptions) => {
      process.exitCode = await runLoadCommand(o);
    });
}

/** Run the load test with a progress bar on a TTY, print the report; resolves with the exit code. */
export async function runLoadCommand(o: LoadCommandOptions): Promise<number> {
  const stop = stopSignals();
  let latest: LoadProgress | undefined;
  const line = process.stderr.isTTY ? new StatusLine(() => describeProgress(latest)).start() : undefined;
  try {
    const report = await runLoad({
      urls: o.url, secret: o.secret, drivers: o.drivers, riders: o.riders, rate: o.rate, durationS: o.duration,
      near: o.near, spreadM: o.spreadM, acceptRate: o.acceptRate, acceptDelayMs: o.acceptDelayMs, tripMs: o.tripMs,
      drainMs: o.drainMs, signal: stop.first, drainSignal: stop.second,
      onProgress: (p) => (latest = p),
      onViolation: (what) => (line ? line.log(`INVARIANT BROKEN: ${what}`) : process.stderr.write(`INVARIANT BROKEN: ${what}\n`)),
    });
    line?.stop(null);
    const json = JSON.stringify(report);
    if (o.out) await writeFile(o.out, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(o.json ? `${json}\n` : `${formatReport(report, { elapsedS: stop.first.aborted ? undefined : o.duration })}\n`);
    return invariantsHold(report) ? 0 : 1;
  } catch (err) {
    line?.stop(null);
    process.stderr.write(`load test failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  } finally {
    stop.dispose();
  }
}

function describeProgress(p: LoadProgress | undefined): string {
  if (!p || p.phase === 'connecting') return `connecting… ${p ? `${p.driversOnline} drivers online` : ''}`;
  const counts = `req ${p.requested} disp ${p.dispatched} done ${p.completed} unf ${p.unfulfilled} fail ${p.failed}`;
  if (p.phase === 'running') {
    return `${bar(p.elapsedMs / p.durationMs)} ${(p.elapsedMs / 1000).toFixed(1)}/${(p.durationMs / 1000).toFixed(0)} s  ${counts}`;
  }
  return `${p.phase}… ${p.outstanding} calls under way  ${counts}`;
}
