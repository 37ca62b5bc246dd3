/** A fleet of simulated drivers with shared counters: started together, stopped together. */
import { pool } from '../async.js';
import { RoundRobin } from '../options.js';
import { SimDriver, type DriverObserver, type DriverOptions } from './driver.js';
import { ErrorTally } from './socket.js';

export interface FleetOptions extends Omit<DriverOptions, 'id' | 'url'> {
  count: number;
  /** Driver ids are `<prefix>-<i>`, i from 1. */
  prefix: string;
  urls: RoundRobin;
  /** How many connect at once. Default 50. */
  connectConcurrency?: number;
}

export class DriverFleet {
  readonly drivers: SimDriver[];
  readonly errors = new ErrorTally();
  offers = 0;
  accepted = 0;
  rejected = 0;
  completed = 0;
  /** Trips that ended without completing (cancelled by the rider, or lost). */
  cancelled = 0;

  constructor(private readonly o: FleetOptions, ...observers: DriverObserver[]) {
    const counting: DriverObserver = {
      offer: () => void this.offers++,
      accepted: () => void this.accepted++,
      rejected: () => void this.rejected++,
      tripEnded: (_d, _c, how) => void (how === 'completed' ? this.completed++ : this.cancelled++),
      error: (_d, _e, err) => this.errors.add(err.code),
    };
    this.drivers = Array.from({ length: o.count }, (_, i) => new SimDriver({ ...o, id: `${o.prefix}-${i + 1}`, url: o.urls.next() }, counting, ...observers));
  }

  get online(): number {
    return this.drivers.filter((d) => d.online && d.connected).length;
  }

  get onTrip(): number {
    return this.drivers.filter((d) => d.trip).length;
  }

  /** Connect every driver and put it online; the ones that could not are returned with why. */
  async start(): Promise<{ online: number; failures: string[] }> {
    const results = await pool(this.drivers, this.o.connectConcurrency ?? 50, (d) => d.start());
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
    for (let i = 0; i < failures.length; i++) this.errors.add('CONNECT_FAILED');
    return { online: this.drivers.length - failures.length, failures };
  }

  /** Every driver signs off (trip finished or handed back, `driver:offline`, disconnect). */
  async stop(deadlineMs = 5000): Promise<void> {
    await Promise.all(this.drivers.map((d) => d.stop(deadlineMs)));
  }

  /** One line: online, offered, on trip, completed, errors by code. */
  status(): string {
    return `drivers ${this.online}/${this.drivers.length} online · offers ${this.offers} · accepted ${this.accepted} · rejected ${this.rejected} · on trip ${this.onTrip} · completed ${this.completed} · errors ${this.errors.toString()}`;
  }
}
