/**
 * What riders (and admins) can do with calls, shared by the Socket.IO handlers and the REST routes:
 * every action checks the role, runs one command (the change is atomic in Redis) and carries out
 * what the command says follows (pushes, matching).
 */
import { randomUUID } from 'node:crypto';
import {
  isTerminal, type Call, type CallRequest, type ListQuery, type User, type UserRole,
} from '../../protocol/index.js';
import { clock, follow, type Context } from '../context.js';
import { AppError } from '../errors.js';
import { TIMER_LEASE_MS } from '../jobs.js';
import { regionOf, regionResolution } from '../region.js';

/** How long a requestId is remembered for idempotency. */
const REQUEST_TTL_S = 24 * 3600;

export function requireRole(user: User, ...roles: UserRole[]): void {
  if (!roles.includes(user.role)) throw new AppError('FORBIDDEN', `role ${user.role} may not do this`);
}

/** A vehicle class the configuration offers (VEHICLE_CLASSES), or the default for none. */
export function vehicleClassOf(ctx: Context, asked: string | undefined): string {
  if (asked === undefined) return ctx.config.DEFAULT_VEHICLE_CLASS;
  if (!ctx.config.VEHICLE_CLASSES.includes(asked)) {
    throw new AppError('VALIDATION_FAILED', `unknown vehicle class ${asked}: one of ${ctx.config.VEHICLE_CLASSES.join(', ')}`);
  }
  return asked;
}

export class CallService {
  private readonly resolution: number;

  constructor(private readonly ctx: Context) {
    this.resolution = regionResolution(ctx.config);
  }

  /** Create (or, for a repeated requestId, return) the passenger's call and queue it for matching. */
  async request(user: User, input: CallRequest): Promise<{ call: Call; created: boolean }> {
    requireRole(user, 'passenger');
    const vehicleClass = vehicleClassOf(this.ctx, input.vehicleClass);
    const { call, created, effects } = await this.ctx.commands.request({
      callId: randomUUID(), passengerId: user.id, requestId: input.requestId, pickup: input.pickup, dropoff: input.dropoff,
      now: clock(), requestTtlS: REQUEST_TTL_S, safetyTimerMs: TIMER_LEASE_MS, region: regionOf(input.pickup, this.resolution), vehicleClass,
    });
    await follow(this.ctx, effects);
    if (created) this.ctx.log.info({ callId: call.id, passengerId: user.id, status: call.status }, 'call requested');
    return { call, created };
  }

  /** The passenger (own call) or an admin cancels a call whose trip has not started. */
  async cancel(user: User, callId: string, reason?: string): Promise<Call> {
    requireRole(user, 'passenger', 'admin');
    const { call, freedDriver, effects } = await this.ctx.commands.cancel({ callId, userId: user.id, role: user.role, reason: reason ?? '', now: clock() });
    await follow(this.ctx, effects);
    this.ctx.log.info({ callId, status: call.status, by: user.id, driverId: freedDriver || undefined }, 'call cancelled');
    return call;
  }

  /** A call, if this user may see it: its passenger, a driver it was offered to or assigned, an admin. */
  async get(user: User, callId: string): Promise<Call> {
    const call = await this.load(callId);
    if (!call) throw new AppError('NOT_FOUND');
    if (user.role === 'admin' || call.passengerId === user.id || call.driverId === user.id) return call;
    if (user.role === 'driver' && (await this.ctx.redis.hexists(this.ctx.keys.callOffers(callId), user.id))) return call;
    throw new AppError('FORBIDDEN', 'not your call');
  }

  /** The passenger's non-terminal calls. */
  async active(user: User): Promise<Call[]> {
    requireRole(user, 'passenger');
    const id = await this.ctx.redis.get(this.ctx.keys.passengerActive(user.id));
    const call = id ? await this.load(id) : null;
    return call && !isTerminal(call.status) ? [call] : [];
  }

  /** Newest first: the passenger's own calls, or every call for an admin. */
  async list(user: User, q: ListQuery): Promise<Call[]> {
    requireRole(user, 'passenger', 'admin');
    const { keys, redis } = this.ctx;
    const index = user.role === 'admin' ? keys.allCalls : keys.passengerCalls(user.id);
    // Without a status filter `limit` ids suffice; with one, look further back (bounded).
    const ids = await redis.zrevrange(index, 0, (q.status ? Math.max(q.limit * 10, 1000) : q.limit) - 1);
    if (ids.length === 0) return [];
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hget(keys.call(id), 'json');
    const rows = (await pipeline.exec()) ?? [];
    const out: Call[] = [];
    for (const [err, json] of rows) {
      if (err || typeof json !== 'string') continue;
      const call = JSON.parse(json) as Call;
      if (!q.status || call.status === q.status) out.push(call);
      if (out.length >= q.limit) break;
    }
    return out;
  }

  private async load(callId: string): Promise<Call | null> {
    const json = await this.ctx.redis.hget(this.ctx.keys.call(callId), 'json');
    return json ? (JSON.parse(json) as Call) : null;
  }
}
