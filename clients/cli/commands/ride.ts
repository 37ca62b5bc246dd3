/** `dispatch ride`: one rider requests a ride and prints every status change until it ends. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { Id, type Call, type LatLng } from '../../../protocol/index.js';
import { intIn, parsePoint, withConnection, type ConnectionOptions } from '../options.js';
import { onStopSignals } from '../signals.js';
import { SimRider } from '../sim/rider.js';

export interface RideCommandOptions extends ConnectionOptions {
  pickup: LatLng;
  dropoff: LatLng;
  id: string;
  cancelAfterMs?: number;
  timeoutMs: number;
}

/** The `ride` command definition. */
export function rideCommand(): Command {
  return withConnection(
    new Command('ride')
      .description('request one ride as a rider and print every status change (exit 0 when completed, 1 otherwise)')
      .addOption(new Option('--pickup <lat,lng>', 'pickup point').argParser(parsePoint).makeOptionMandatory())
      .addOption(new Option('--dropoff <lat,lng>', 'dropoff point').argParser(parsePoint).makeOptionMandatory())
      .option('--id <id>', 'rider id', (v: string) => {
        if (!Id.safeParse(v).success) throw new InvalidArgumentError('must be 1-64 chars of A-Z a-z 0-9 _ -');
        return v;
      }, 'rider1')
      .option('--cancel-after-ms <ms>', 'send call:cancel this long after the request if the ride has not ended', intIn(0))
      .option('--timeout-ms <ms>', 'give up (and cancel the call) after this long', intIn(1), 300_000),
  ).action(async (o: RideCommandOptions) => {
    process.exitCode = await runRide(o);
  });
}

/** The command's work; resolves with the exit code. `out` gets the story, `err` the problems. */
export async function runRide(o: RideCommandOptions, out: (line: string) => void = (l) => process.stdout.write(`${l}\n`), err: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<number> {
  const url = o.url[0] as string;
  const started = Date.now();
  const stamp = () => `${new Date().toISOString().slice(11, 23)} +${((Date.now() - started) / 1000).toFixed(3)}s`;
  const rider = new SimRider({ id: o.id, url, secret: o.secret }, {
    status: (_r, call) => out(`${stamp()}  ${call.status.padEnd(11)} ${describe(call)}`),
    error: (_r, event, e) => err(`${stamp()}  ${event} failed: ${e.code} ${e.message}`),
  });
  let interrupted = false;
  const dispose = onStopSignals(() => {
    interrupted = true;
    rider.abort();
  });
  try {
    await rider.connect();
    out(`${stamp()}  ${o.id} on ${url}: ride from ${o.pickup.lat},${o.pickup.lng} to ${o.dropoff.lat},${o.dropoff.lng}`);
    const result = await rider.ride(o.pickup, o.dropoff, { timeoutMs: o.timeoutMs, cancelAfterMs: o.cancelAfterMs });
    switch (result.outcome) {
      case 'final':
        return result.call.status === 'completed' ? 0 : 1;
      case 'failed': {
        if (result.error.code === 'INVALID_STATE') await explainActive(rider, err);
        return 1;
      }
      case 'timeout':
      case 'aborted': {
        err(`${stamp()}  ${interrupted ? 'interrupted' : `no end after ${o.timeoutMs} ms`}${result.call ? `; the call is ${result.call.status}` : ''}`);
        // Leave nothing behind: a call still open is cancelled (refused once the trip has started).
        if (result.call && result.call.status !== 'in_progress') {
          const res = await rider.cancel(interrupted ? 'rider quit' : 'rider gave up');
          if (res?.ok) out(`${stamp()}  ${res.data.status.padEnd(11)} ${describe(res.data)}`);
        }
        return interrupted ? 130 : 1;
      }
    }
  } catch (e) {
    err(e instanceof Error ? e.message : String(e));
    return 1;
  } finally {
    dispose();
    rider.close();
  }
}

function describe(call: Call): string {
  const parts = [`call ${call.id}`, `seq ${call.seq}`];
  if (call.driverId) parts.push(`driver ${call.driverId}`);
  if (call.cancelReason) parts.push(`reason ${JSON.stringify(call.cancelReason)}`);
  return parts.join('  ');
}

/** A second call while one is open is refused: say which call is in the way. */
async function explainActive(rider: SimRider, err: (line: string) => void): Promise<void> {
  const res = await rider.active();
  if (res.ok && res.data[0]) err(`${rider.id} already has call ${res.data[0].id} (${res.data[0].status}); cancel it or use another --id`);
}
