/**
 * The product under load, client side (in a load worker): the CLI's `runLoad` (riders calling at a
 * steady rate, drivers answering, invariants checked at the clients), and a fleet of drivers held
 * online, reporting their position, answering offers, until told to stop.
 */
import { RoundRobin } from '../../clients/cli/options.js';
import type { LoadReport } from '../../clients/cli/report.js';
import { DriverFleet } from '../../clients/cli/sim/fleet.js';
import { DEFAULT_CENTER, runLoad, type LoadOptions } from '../../clients/cli/sim/load.js';
import type { LatLng } from '../../protocol/index.js';
import type { TaskContext } from '../lib/ipc.js';

export type LoadArgs = Omit<LoadOptions, 'onProgress' | 'signal' | 'drainSignal' | 'onViolation'>;

export interface LoadResult {
  report: LoadReport;
  /** Connecting every driver and rider (before the first call). */
  connectS: number;
  /** Calls requested per second over the calling phase. */
  achievedRate: number;
  /** The broken invariants as the clients saw them (first few). */
  violations: string[];
  /** Calls still under way when the drain ended. */
  outstanding: number;
}

export async function load(a: LoadArgs, ctx: TaskContext): Promise<LoadResult> {
  const started = performance.now();
  let runningAt = 0;
  let phase = '';
  let outstanding = 0;
  const violations: string[] = [];
  const report = await runLoad({
    ...a,
    signal: ctx.signal,
    onViolation: (what) => {
      if (violations.length < 10) violations.push(what);
    },
    onProgress: (p) => {
      if (p.phase !== phase) {
        phase = p.phase;
        if (p.phase === 'running') runningAt = performance.now();
        ctx.emit(p.phase, { elapsedMs: p.elapsedMs, driversOnline: p.driversOnline });
      }
      outstanding = p.outstanding;
    },
  });
  const connectS = runningAt ? (runningAt - started) / 1000 : 0;
  return {
    report,
    connectS: Math.round(connectS * 10) / 10,
    achievedRate: Math.round((report.calls.requested / a.durationS) * 10) / 10,
    violations,
    outstanding,
  };
}

export interface FleetArgs {
  urls: string[];
  secret: string;
  count: number;
  prefix: string;
  near?: LatLng;
  spreadM: number;
  locationEveryMs: number;
  tripMs?: number;
  connectConcurrency?: number;
}

export interface FleetResult {
  online: number;
  connectFailures: number;
  connectS: number;
  offers: number;
  accepted: number;
  completed: number;
  /** A driver that won a call while holding another trip (must be 0). */
  doubleTrips: number;
  errors: Record<string, number>;
}

/** Hold a fleet of drivers online until told to stop: 'ready' once every driver is online. */
export async function fleet(a: FleetArgs, ctx: TaskContext): Promise<FleetResult> {
  let doubleTrips = 0;
  const f = new DriverFleet(
    {
      count: a.count, prefix: a.prefix, urls: new RoundRobin(a.urls), secret: a.secret, home: a.near ?? DEFAULT_CENTER,
      spreadM: a.spreadM, acceptRate: 1, acceptDelayMs: [0, 50], tripMs: a.tripMs ?? 500, locationEveryMs: a.locationEveryMs,
      connectConcurrency: a.connectConcurrency ?? 100,
    },
    { doubleTrip: () => void doubleTrips++ },
  );
  const t0 = performance.now();
  const started = await f.start();
  const connectS = Math.round((performance.now() - t0) / 100) / 10;
  ctx.emit('ready', { online: started.online, connectFailures: started.failures.length, connectS });
  try {
    await new Promise<void>((resolve) => {
      if (ctx.signal.aborted) resolve();
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  } finally {
    await f.stop(5000);
  }
  return {
    online: started.online, connectFailures: started.failures.length, connectS,
    offers: f.offers, accepted: f.accepted, completed: f.completed, doubleTrips, errors: f.errors.toObject(),
  };
}
