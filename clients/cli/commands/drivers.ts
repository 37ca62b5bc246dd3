/** `dispatch drivers`: a fleet of simulated drivers that works until Ctrl-C / SIGTERM. */
import { Command, Option } from 'commander';
import type { LatLng } from '../../../protocol/index.js';
import {
  intIn, numberIn, parsePoint, parseRange, RoundRobin, withConnection, type ConnectionOptions,
} from '../options.js';
import { stopSignals } from '../signals.js';
import { DriverFleet } from '../sim/fleet.js';
import { StatusLine } from '../tty.js';

export interface DriversOptions extends ConnectionOptions {
  count: number;
  near: LatLng;
  spreadM: number;
  acceptRate: number;
  acceptDelayMs: [number, number];
  tripMs: number;
  prefix: string;
}

/** The `drivers` command definition. */
export function driversCommand(): Command {
  return withConnection(
    new Command('drivers')
      .description('run simulated drivers: online near a point, moving, answering offers and driving the trips they win')
      .addOption(new Option('--count <n>', 'how many drivers').argParser(intIn(1, 100_000)).makeOptionMandatory())
      .addOption(new Option('--near <lat,lng>', 'centre of their area').argParser(parsePoint).makeOptionMandatory())
      .option('--spread-m <m>', 'radius of their area, in metres', intIn(1, 1_000_000), 2000)
      .option('--accept-rate <p>', 'probability of accepting an offer (else it is rejected)', numberIn(0, 1), 1)
      .addOption(new Option('--accept-delay-ms <min-max>', 'delay before answering an offer').argParser(parseRange).default([200, 1500], '200-1500'))
      .option('--trip-ms <ms>', 'arrived → started → completed are spread over this', intIn(0), 3000)
      .option('--prefix <prefix>', 'driver ids are <prefix>-<i>', 'drv'),
  )
    .addHelpText('after', '\nStops cleanly on Ctrl-C / SIGTERM: trips are handed back (or finished once started), then driver:offline and disconnect.')
    .action(async (o: DriversOptions) => {
      process.exitCode = await runDrivers(o);
    });
}

/** Run the fleet until a stop signal; resolves with the exit code. */
export async function runDrivers(o: DriversOptions): Promise<number> {
  const fleet = new DriverFleet({
    count: o.count, prefix: o.prefix, urls: new RoundRobin(o.url), secret: o.secret, home: o.near, spreadM: o.spreadM,
    acceptRate: o.acceptRate, acceptDelayMs: o.acceptDelayMs, tripMs: o.tripMs,
  });
  const stop = stopSignals();
  const line = new StatusLine(() => fleet.status()).start();
  try {
    const started = await fleet.start();
    for (const f of started.failures.slice(0, 5)) line.log(`could not start: ${f}`);
    if (started.failures.length > 5) line.log(`… and ${started.failures.length - 5} more`);
    if (started.online === 0) {
      line.log('no driver is online; is the server running at the --url given?');
      return 1;
    }
    line.log(`${started.online} drivers online near ${o.near.lat},${o.near.lng} on ${o.url.join(', ')}; Ctrl-C to stop`);
    if (!stop.first.aborted) await new Promise((resolve) => stop.first.addEventListener('abort', resolve, { once: true }));
    line.log('stopping: drivers go offline…');
    return 0;
  } finally {
    await fleet.stop();
    line.stop();
    stop.dispose();
  }
}
