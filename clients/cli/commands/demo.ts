/**
 * `dispatch demo` (npm run demo): starts the server as `npm start` would, then simulated drivers
 * around a city centre and a new rider every few seconds, and tells the story of each ride.
 * Ctrl-C, SIGTERM or closing the terminal (SIGHUP) stops the riders, the drivers and then the
 * server, which stops its private Redis if it started one.
 */
import { performance } from 'node:perf_hooks';
import { Command, Option } from 'commander';
import {
  ALREADY_DISPATCHED_MESSAGE, type Call, type LatLng, type Offer,
} from '../../../protocol/index.js';
import { DEV_JWT_SECRET } from '../../../server/config.js';
import { portFree } from '../../../server/devkit/ports.js';
import { spawnServer, type ServerProcess } from '../../../server/devkit/server.js';
import { timer } from '../async.js';
import { signToken } from '../token.js';
import { distanceM, formatDistance, randomPointWithin } from '../geo.js';
import {
  intIn, numberIn, parsePoint, parseRange, randomIn, RoundRobin,
} from '../options.js';
import { stopSignals } from '../signals.js';
import { DriverFleet } from '../sim/fleet.js';
import { SimRider } from '../sim/rider.js';
import { DEFAULT_CENTER } from '../sim/load.js';

export interface DemoOptions {
  port: number;
  secret: string;
  drivers: number;
  near: LatLng;
  spreadM: number;
  riderEveryMs: [number, number];
  acceptRate: number;
  acceptDelayMs: [number, number];
  tripMs: number;
}

/** The `demo` command definition. */
export function demoCommand(): Command {
  return new Command('demo')
    .description('start the server, then simulated drivers and riders around a city centre, and tell the story of each ride')
    .option('--port <port>', 'port for the server', intIn(1, 65535), 3000)
    .addOption(new Option('--secret <secret>', 'HS256 secret (the server gets it as JWT_SECRET)').env('JWT_SECRET').default(DEV_JWT_SECRET, 'the development secret'))
    .option('--drivers <n>', 'simulated drivers', intIn(1, 10_000), 30)
    .addOption(new Option('--near <lat,lng>', 'the city centre').argParser(parsePoint).default(DEFAULT_CENTER, `${DEFAULT_CENTER.lat},${DEFAULT_CENTER.lng} (Seoul City Hall)`))
    .option('--spread-m <m>', 'radius of the area, in metres', intIn(100, 100_000), 2500)
    .addOption(new Option('--rider-every-ms <min-max>', 'a new rider after a random wait in this range').argParser(parseRange).default([2000, 5000], '2000-5000'))
    .option('--accept-rate <p>', 'probability that a driver accepts an offer', numberIn(0, 1), 0.8)
    .addOption(new Option('--accept-delay-ms <min-max>', 'delay before a driver answers').argParser(parseRange).default([500, 2500], '500-2500'))
    .option('--trip-ms <ms>', 'length of each trip', intIn(0), 12_000)
    .addHelpText('after', '\nThe server runs as a child (ROLE=all, its own defaults otherwise: Redis at 127.0.0.1:6379 or a private one).\nCtrl-C (or closing the terminal) stops everything, the server included.')
    .action(async (o: DemoOptions) => {
      process.exitCode = await runDemo(o);
    });
}

const time = () => new Date().toTimeString().slice(0, 8);
const say = (text: string) => process.stdout.write(`${time()}  ${text}\n`);
const warn = (text: string) => process.stderr.write(`${time()}  ${text}\n`);

/** Server, drivers, riders and the story, until a stop signal; resolves with the exit code. */
export async function runDemo(o: DemoOptions): Promise<number> {
  const stop = stopSignals();
  let server: ServerProcess | undefined;
  try {
    if (!(await portFree(o.port))) {
      warn(`port ${o.port} is in use: stop what runs there, or pick another with --port`);
      return 1;
    }
    say(`starting the server on port ${o.port} (ROLE=all)…`);
    server = startServer(o);
    try {
      await server.ready({ ms: 60_000, tick: 200, signal: stop.first });
    } catch (err) {
      if (stop.first.aborted) return 0;
      warn((err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '');
      return 1;
    }
    say(`server ready at ${server.url} (pid ${server.pid})`);
    say(`operator console: ${await consoleUrl(server.url, o.secret)}`);
    return await tellStories(o, server.url, stop.first, server.exited);
  } finally {
    if (server?.running()) {
      say('stopping the server…');
      if ((await server.stop(15_000)).forced) warn('the server did not stop in 15 s: it was killed');
    }
    stop.dispose();
    say('demo over');
  }
}

/**
 * The operator console's address with a ready admin sign-in: a 12 h admin token in the fragment
 * (`#token=`), which the browser never sends to the server and the page removes from the address bar.
 */
export async function consoleUrl(serverUrl: string, secret: string): Promise<string> {
  return `${serverUrl}/ops#token=${await signToken(secret, 'demo-admin', 'admin', '12h')}`;
}

/**
 * The server as `npm start` runs it (one process, ROLE=all; from the sources with tsx, compiled:
 * node dist/server/main.js), in its own process group so a Ctrl-C reaches the demo first and the
 * server is stopped after its clients (and sent SIGTERM if the demo exits any other way). It logs
 * JSON lines whatever the terminal, since showServerLine reads them.
 */
function startServer(o: DemoOptions): ServerProcess {
  const server = spawnServer({
    name: 'the server',
    role: 'all',
    port: o.port,
    env: { LOG_LEVEL: process.env.LOG_LEVEL ?? 'info', LOG_FORMAT: 'json', ...(o.secret === DEV_JWT_SECRET ? {} : { JWT_SECRET: o.secret }) },
    detached: true,
    keep: 64 * 1024,
  });
  server.onLine(showServerLine);
  return server;
}

/** Server log lines worth showing next to the story: warnings and errors, start-up and Redis news. */
function showServerLine(line: string): void {
  let entry: { level?: number; msg?: string; err?: { message?: string } } | undefined;
  try {
    entry = JSON.parse(line) as typeof entry;
  } catch {
    process.stderr.write(`server │ ${line}\n`);
    return;
  }
  const level = entry?.level ?? 30;
  const msg = entry?.msg ?? line;
  if (level >= 40 || msg === 'listening' || /redis/i.test(msg)) {
    const name = level >= 50 ? 'ERROR' : level >= 40 ? 'WARN' : 'INFO';
    process.stderr.write(`server │ ${name} ${msg}${entry?.err?.message ? `: ${entry.err.message}` : ''}\n`);
  }
}

interface Story {
  n: number;
  label: string;
  requestedAt: number;
  call?: Call;
  /** Offers of the current wave, printed together a moment after the first. */
  wave: { driverId: string; offer: Offer }[];
  waveTimer?: NodeJS.Timeout;
}

/** Drivers and a stream of riders until stopped; every ride's story on stdout. */
async function tellStories(o: DemoOptions, url: string, stopped: AbortSignal, serverExit: Promise<unknown>): Promise<number> {
  const stories = new Map<string, Story>(); // by call id
  const early = new Map<string, { driverId: string; offer: Offer }[]>(); // offers that beat the request's ack
  const label = (callId: string) => stories.get(callId)?.label ?? `call ${callId.slice(0, 8)}`;

  const offered = (story: Story, driverId: string, offer: Offer) => {
    story.wave.push({ driverId, offer });
    story.waveTimer ??= setTimeout(() => {
      const list = story.wave.sort((a, b) => a.offer.distanceM - b.offer.distanceM).map((w) => `${w.driverId} (${formatDistance(w.offer.distanceM)})`);
      say(`${story.label}  offered to ${list.length} driver${list.length === 1 ? '' : 's'}: ${list.join(', ')}`);
      story.wave = [];
      story.waveTimer = undefined;
    }, 150);
  };

  const fleet = new DriverFleet(
    {
      count: o.drivers, prefix: 'drv', urls: new RoundRobin([url]), secret: o.secret, home: o.near, spreadM: o.spreadM,
      acceptRate: o.acceptRate, acceptDelayMs: o.acceptDelayMs, tripMs: o.tripMs,
    },
    {
      offer: (d, offer) => {
        const story = stories.get(offer.callId);
        if (story) offered(story, d.id, offer);
        else early.set(offer.callId, [...(early.get(offer.callId) ?? []), { driverId: d.id, offer }]);
      },
      rejected: (d, callId) => say(`${label(callId)}  ${d.id} declined`),
      acceptFailed: (d, callId, err) => {
        if (err.code === 'ALREADY_DISPATCHED') say(`${label(callId)}  ${d.id} accepted too late: ${ALREADY_DISPATCHED_MESSAGE}`);
        else if (err.code !== 'OFFER_EXPIRED') say(`${label(callId)}  ${d.id} could not accept: ${err.code}`);
      },
    },
  );
  const started = await fleet.start();
  for (const f of started.failures.slice(0, 3)) warn(`could not start a driver: ${f}`);
  if (started.online === 0) return 1;
  say(`${started.online} drivers online within ${formatDistance(o.spreadM)} of ${o.near.lat},${o.near.lng}; a new rider every ${o.riderEveryMs[0] / 1000}-${o.riderEveryMs[1] / 1000} s. Ctrl-C to stop.`);

  const tag = Date.now().toString(36).slice(-4);
  const riders = new Set<SimRider>();
  const rides: Promise<void>[] = [];
  let n = 0;

  const newRider = async () => {
    const story: Story = { n: ++n, label: `ride ${n}`, requestedAt: 0, wave: [] };
    const rider = new SimRider({ id: `rider-${tag}-${story.n}`, url, secret: o.secret }, {
      requestSent: () => void (story.requestedAt = performance.now()),
      requestAcked: (_r, res) => {
        if (!res.ok) return;
        stories.set(res.data.id, story);
        for (const e of early.get(res.data.id) ?? []) offered(story, e.driverId, e.offer);
        early.delete(res.data.id);
      },
      status: (_r, call, at) => tell(story, call, at),
      error: (_r, event, err) => say(`${story.label}  ${event} failed: ${err.code} ${err.message}`),
    });
    riders.add(rider);
    try {
      await rider.connect();
      const pickup = randomPointWithin(o.near, o.spreadM * 0.8);
      const dropoff = randomPointWithin(o.near, o.spreadM * 1.5);
      const result = await rider.ride(pickup, dropoff);
      if (result.outcome === 'failed') say(`${story.label}  request failed: ${result.error.code} ${result.error.message}`);
    } catch (err) {
      say(`${story.label}  ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      if (!stopped.aborted) {
        riders.delete(rider);
        rider.close();
      }
    }
  };

  const summary = setInterval(() => say(`· ${fleet.online} drivers online, ${fleet.onTrip} on a trip, ${fleet.completed} rides completed`), 30_000);
  let crashed = false;
  void serverExit.then(() => {
    if (!stopped.aborted) {
      crashed = true;
      warn('the server stopped unexpectedly');
    }
  });
  const stopRequested = new Promise((r) => stopped.addEventListener('abort', r, { once: true }));
  try {
    while (!stopped.aborted && !crashed) {
      rides.push(newRider());
      const wait = timer(randomIn(o.riderEveryMs));
      await Promise.race([wait.done, stopRequested, serverExit]);
      wait.cancel();
    }
  } finally {
    clearInterval(summary);
    say('stopping: open calls are cancelled, drivers go offline…');
    await Promise.all([...riders].map(async (r) => {
      if (r.connected && r.current && !['in_progress', 'completed', 'cancelled', 'unfulfilled'].includes(r.current.status)) await r.cancel('demo over');
      r.close();
    }));
    await Promise.allSettled(rides);
    await fleet.stop();
    for (const s of stories.values()) clearTimeout(s.waveTimer);
  }
  return crashed ? 1 : 0;
}

function tell(story: Story, call: Call, at: number): void {
  const prev = story.call;
  story.call = call;
  const s = story.label;
  switch (call.status) {
    case 'requested':
      say(`${s}  requested by ${call.passengerId}: ${place(call.pickup)} → ${place(call.dropoff)} (${formatDistance(distanceM(call.pickup, call.dropoff))})`);
      break;
    case 'offered':
      if (prev?.driverId) say(`${s}  ${prev.driverId} backed out; dispatching again`);
      break;
    case 'dispatched':
      say(`${s}  dispatched to ${call.driverId} after ${Math.round(at - story.requestedAt)} ms`);
      break;
    case 'arrived':
      say(`${s}  ${call.driverId} arrived at the pickup`);
      break;
    case 'in_progress':
      say(`${s}  trip started`);
      break;
    case 'completed':
      say(`${s}  completed, ${((at - story.requestedAt) / 1000).toFixed(1)} s after the request`);
      break;
    case 'cancelled':
      say(`${s}  cancelled${call.cancelReason ? ` (${call.cancelReason})` : ''}`);
      break;
    case 'unfulfilled':
      say(`${s}  unfulfilled: no driver accepted in time`);
      break;
  }
}

function place(p: LatLng): string {
  return `${p.lat.toFixed(4)},${p.lng.toFixed(4)}`;
}
