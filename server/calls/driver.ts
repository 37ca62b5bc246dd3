/**
 * What drivers can do: availability and position, answering offers, running the trip. Shared by
 * the Socket.IO handlers and the REST routes, like CallService.
 */
import type { Call, LatLng, Offer } from '../../protocol/index.js';
import { clock, later, type Context } from '../context.js';
import { REMATCH_PER_DRIVER, rematchNear } from '../dispatch/matcher.js';
import { enqueueRematch, scheduleGrace } from '../dispatch/queue.js';
import { AppError } from '../errors.js';
import { checked } from '../redis/results.js';
import { requireRole, type User } from './service.js';

/** At most one `driver:location` push to a rider per this many ms. */
export const LOCATION_PUSH_INTERVAL_MS = 1000;

export type TripStep = 'arrived' | 'in_progress' | 'completed';

export class DriverService {
  constructor(private readonly ctx: Context) {}

  async online(user: User, pos: LatLng): Promise<{ status: 'available' }> {
    requireRole(user, 'driver');
    const { keys, scripts } = this.ctx;
    checked(await scripts.driverOnline(keys.driver(user.id), keys.freeDrivers, user.id, pos.lat, pos.lng, Date.now()));
    later(this.ctx, rematchNear(this.ctx, [user.id]), 'rematch near a driver online');
    return { status: 'available' };
  }

  async offline(user: User): Promise<{ status: 'offline' }> {
    requireRole(user, 'driver');
    const { keys, scripts, notify, queue } = this.ctx;
    const reply = checked(
      await scripts.driverOffline(keys.driver(user.id), keys.freeDrivers, keys.driverOffers(user.id), keys.prefix, user.id, Date.now(), ''),
    );
    const ended = reply[1] as string[];
    for (const callId of ended) notify.revoked([user.id], callId, 'expired');
    await enqueueRematch(queue, ended);
    return { status: 'offline' };
  }

  async location(user: User, pos: LatLng): Promise<Record<string, never>> {
    requireRole(user, 'driver');
    const { keys, scripts, notify } = this.ctx;
    const now = Date.now();
    const reply = await scripts.driverLocation(
      keys.driver(user.id), keys.freeDrivers, keys.prefix, user.id, pos.lat, pos.lng, now, LOCATION_PUSH_INTERVAL_MS,
    );
    if (reply[0] === 1) {
      const [, callId, passengerId] = reply as [number, string, string];
      if (passengerId) notify.driverLocation(passengerId, { callId, lat: pos.lat, lng: pos.lng, at: new Date(now).toISOString() });
    }
    return {};
  }

  /** The accept: one script decides the winner; everyone else's offers end. */
  async accept(user: User, callId: string): Promise<Call> {
    requireRole(user, 'driver');
    const { keys, scripts, notify, queue, config, log, metrics } = this.ctx;
    const t = clock();
    const started = performance.now();
    let reply;
    try {
      reply = checked(
        await scripts.accept(
          keys.call(callId), keys.callOffers(callId), keys.driver(user.id), keys.driverOffers(user.id),
          keys.freeDrivers, keys.waitingCalls, keys.ledger, keys.callTimers,
          keys.prefix, user.id, t.ms, t.iso, config.MATCH_RADIUS_M, REMATCH_PER_DRIVER,
        ),
      );
    } catch (err) {
      metrics.accepts.inc({ result: err instanceof AppError ? err.code : 'error' });
      throw err;
    }
    const call = JSON.parse(reply[1] as string) as Call;
    if (reply[0] === 1) {
      const [, , taken, busy, near] = reply as [number, string, string[], string[], string[]];
      notify.callChanged(call);
      metrics.acceptToNotify.observe((performance.now() - started) / 1000);
      metrics.accepts.inc({ result: 'won' });
      notify.revoked(taken, callId, 'taken');
      for (const other of busy) notify.revoked([user.id], other, 'busy');
      log.info({ callId, driverId: user.id, status: call.status }, 'call dispatched');
      // Calls that lost this driver may have no live offer left; calls waiting near the drivers who
      // lost this call may have them now.
      later(this.ctx, enqueueRematch(queue, [...new Set([...busy, ...near])]), 'rematch after an accept');
    }
    return call;
  }

  async reject(user: User, callId: string): Promise<Record<string, never>> {
    requireRole(user, 'driver');
    const { keys, scripts, queue } = this.ctx;
    const reply = checked(await scripts.reject(keys.call(callId), keys.callOffers(callId), keys.driverOffers(user.id), user.id, Date.now()));
    // The last live offer of the wave was turned down: the next wave goes out now, not at the timeout.
    if (reply[1] === 0) await enqueueRematch(queue, [callId]);
    later(this.ctx, rematchNear(this.ctx, [user.id]), 'rematch near a driver who rejected');
    return {};
  }

  /** arrived → in_progress → completed, by the assigned driver only. */
  async step(user: User, callId: string, to: TripStep): Promise<Call> {
    requireRole(user, 'driver');
    const { keys, scripts, notify, queue, config, log } = this.ctx;
    const t = clock();
    const reply = checked(
      await scripts.tripStep(
        keys.call(callId), keys.freeDrivers, keys.waitingCalls, keys.ledger,
        keys.prefix, user.id, to, t.ms, t.iso, config.MATCH_RADIUS_M, REMATCH_PER_DRIVER,
      ),
    );
    const [, json, , near] = reply as [number, string, number, string[]];
    const call = JSON.parse(json) as Call;
    notify.callChanged(call);
    log.info({ callId, driverId: user.id, status: call.status }, 'trip step');
    // The freed driver is there for the calls waiting near it (the script found them).
    later(this.ctx, enqueueRematch(queue, near), 'rematch near a freed driver');
    return call;
  }

  /** The driver backs out of its trip: the call is offered again, to others. */
  async backOut(user: User, callId: string, reason?: string): Promise<Call> {
    requireRole(user, 'driver');
    const { keys, scripts, notify, queue, log } = this.ctx;
    const t = clock();
    const reply = checked(
      await scripts.tripCancel(
        keys.call(callId), keys.callOffers(callId), keys.freeDrivers, keys.ledger, keys.callTimers, keys.prefix, user.id, t.ms, t.iso,
      ),
    );
    const [, json, , freed] = reply as [number, string, number, number];
    const call = JSON.parse(json) as Call;
    notify.callChanged(call);
    notify.tripEnded(user.id, call);
    log.info({ callId, driverId: user.id, status: call.status, reason }, 'driver backed out');
    // Matched again now; the script also left a timer due now, in case this process dies first.
    await enqueueRematch(queue, [callId]);
    if (freed === 1) later(this.ctx, rematchNear(this.ctx, [user.id]), 'rematch near a freed driver');
    return call;
  }

  /** What a (re)connecting driver is told: its current trip and its live offers. */
  async resync(driverId: string): Promise<{ trip: Call | null; offers: Offer[] }> {
    const { keys, scripts } = this.ctx;
    const [trip, offers] = (await scripts.driverResync(
      keys.driver(driverId), keys.driverOffers(driverId), keys.prefix, driverId, Date.now(),
    )) as unknown as [string, string[]];
    return { trip: trip ? (JSON.parse(trip) as Call) : null, offers: offers.map((o) => JSON.parse(o) as Offer) };
  }

  /** A driver connected: a grace period running from an earlier disconnect is over. */
  async connected(driverId: string): Promise<void> {
    const key = this.ctx.keys.driver(driverId);
    await this.ctx.redis.multi().hincrby(key, 'connects', 1).hset(key, 'awaySince', '', 'offlineAfterTrip', '').exec();
  }

  /**
   * A driver's socket closed. When no socket of it is left on any node (`anyLeft`), it stays
   * dispatchable for DRIVER_GRACE_MS and then goes offline — unless a socket connects meanwhile
   * (the connect counter, read before looking, tells).
   */
  async disconnected(driverId: string, anyLeft: () => Promise<boolean>): Promise<void> {
    const key = this.ctx.keys.driver(driverId);
    const connects = (await this.ctx.redis.hget(key, 'connects')) ?? '0';
    if (await anyLeft()) return;
    const awaySince = (await this.ctx.scripts.driverAway(key, connects, Date.now())) as unknown as string;
    if (awaySince) await scheduleGrace(this.ctx.queue, driverId, awaySince, this.ctx.config.DRIVER_GRACE_MS);
  }
}
