/**
 * What drivers can do: availability and position, answering offers, running the trip. Shared by
 * the Socket.IO handlers and the REST routes, like CallService.
 */
import type { Call, DriverOnline, DriverSuspendedPush, LatLng, Offer, User } from '../../protocol/index.js';
import { clock, follow, type Context } from '../context.js';
import { AppError } from '../errors.js';
import { scheduleGrace } from '../jobs.js';
import type { TripStep } from '../redis/commands.js';
import { requireRole, vehicleClassOf } from './service.js';

export type { TripStep } from '../redis/commands.js';

/** At most one `driver:location` push to a rider per this many ms. */
export const LOCATION_PUSH_INTERVAL_MS = 1000;

export class DriverService {
  constructor(private readonly ctx: Context) {}

  /** Online at a position; the vehicle and name it declares are its public profile (shown to its riders). */
  async online(user: User, input: DriverOnline): Promise<{ status: 'available' }> {
    requireRole(user, 'driver');
    const vehicleClass = vehicleClassOf(this.ctx, input.vehicle?.class);
    const declared = input.name !== undefined || input.vehicle !== undefined;
    const profile = declared ? { ...(input.name ? { name: input.name } : {}), vehicle: { ...input.vehicle, class: vehicleClass } } : undefined;
    const { status, effects } = await this.ctx.commands.driverOnline({
      driverId: user.id, pos: { lat: input.lat, lng: input.lng }, now: Date.now(), vehicleClass, profile,
    });
    await follow(this.ctx, effects);
    return { status };
  }

  async offline(user: User): Promise<{ status: 'offline' }> {
    requireRole(user, 'driver');
    const { effects } = await this.ctx.commands.driverOffline({ driverId: user.id, now: Date.now() });
    await follow(this.ctx, effects);
    return { status: 'offline' };
  }

  async location(user: User, pos: LatLng): Promise<Record<string, never>> {
    requireRole(user, 'driver');
    const { TRACK_SAMPLE_MS: sampleMs, TRACK_MAX_POINTS: maxPoints } = this.ctx.config;
    const { effects } = await this.ctx.commands.driverLocation({
      driverId: user.id, pos, now: Date.now(), pushEveryMs: LOCATION_PUSH_INTERVAL_MS, track: { sampleMs, maxPoints },
    });
    await follow(this.ctx, effects);
    return {};
  }

  /** The accept: one script decides the winner; everyone else's offers end. */
  async accept(user: User, callId: string): Promise<Call> {
    requireRole(user, 'driver');
    const { log, metrics } = this.ctx;
    const started = performance.now();
    let result;
    try {
      result = await this.ctx.commands.accept({ callId, driverId: user.id, now: clock() });
    } catch (err) {
      metrics.accepts.inc({ result: err instanceof AppError ? err.code : 'error' });
      throw err;
    }
    await follow(this.ctx, result.effects);
    if (result.outcome === 'won') {
      metrics.acceptToNotify.observe((performance.now() - started) / 1000);
      const createdMs = Date.parse(result.call.createdAt);
      if (Number.isFinite(createdMs)) metrics.requestToDispatched.observe(Math.max(0, Date.now() - createdMs) / 1000);
      metrics.wavesPerDispatch.observe(result.waves);
      metrics.accepts.inc({ result: 'won' });
      log.info({ callId, driverId: user.id, status: result.call.status }, 'call dispatched');
    }
    return result.call;
  }

  async reject(user: User, callId: string): Promise<Record<string, never>> {
    requireRole(user, 'driver');
    const { effects } = await this.ctx.commands.reject({ callId, driverId: user.id, now: clock() });
    await follow(this.ctx, effects);
    return {};
  }

  /** arrived → in_progress → completed, by the assigned driver only. */
  async step(user: User, callId: string, to: TripStep): Promise<Call> {
    requireRole(user, 'driver');
    const { call, effects } = await this.ctx.commands.tripStep({ callId, driverId: user.id, to, now: clock() });
    await follow(this.ctx, effects);
    this.ctx.log.info({ callId, driverId: user.id, status: call.status }, 'trip step');
    return call;
  }

  /** The driver backs out of its trip: the call is offered again, to others. */
  async backOut(user: User, callId: string, reason?: string): Promise<Call> {
    requireRole(user, 'driver');
    const { call, effects } = await this.ctx.commands.tripCancel({ callId, driverId: user.id, now: clock() });
    await follow(this.ctx, effects);
    this.ctx.log.info({ callId, driverId: user.id, status: call.status, reason }, 'driver backed out');
    return call;
  }

  /** An admin suspends a driver for `durationMs`, or until lifted. */
  async suspend(user: User, driverId: string, reason: string, durationMs?: number): Promise<{ driverId: string; suspended: true; until: string | null }> {
    requireRole(user, 'admin');
    const now = clock();
    const untilMs = durationMs === undefined ? undefined : now.ms + durationMs;
    const { onTrip, effects } = await this.ctx.commands.driverSuspend({ driverId, adminId: user.id, reason, untilMs, now });
    await follow(this.ctx, effects);
    const until = untilMs === undefined ? null : new Date(untilMs).toISOString();
    this.ctx.log.info({ driverId, by: user.id, reason, until, onTrip }, 'driver suspended');
    return { driverId, suspended: true, until };
  }

  /** An admin lifts a driver's suspension. */
  async lift(user: User, driverId: string, reason?: string): Promise<{ driverId: string; suspended: false }> {
    requireRole(user, 'admin');
    const { was, effects } = await this.ctx.commands.driverLift({ driverId, adminId: user.id, reason: reason ?? '', now: clock() });
    await follow(this.ctx, effects);
    this.ctx.log.info({ driverId, by: user.id, reason, was }, 'driver suspension lifted');
    return { driverId, suspended: false };
  }

  /** What a (re)connecting driver is told: its suspension (while one counts), its current trip and its live offers. */
  resync(driverId: string): Promise<{ trip: Call | null; offers: Offer[]; suspended: DriverSuspendedPush | null }> {
    return this.ctx.commands.driverResync({ driverId, now: Date.now() });
  }

  /** A driver connected: a grace period running from an earlier disconnect is over. */
  async connected(driverId: string): Promise<void> {
    await this.ctx.commands.driverConnected({ driverId, now: Date.now() });
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
    const awaySince = await this.ctx.commands.driverAway({ driverId, connects, now: Date.now() });
    if (awaySince) await scheduleGrace(this.ctx.queue, driverId, awaySince, this.ctx.config.DRIVER_GRACE_MS);
  }
}
