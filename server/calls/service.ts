/**
 * What riders (and admins) can do with calls, shared by the Socket.IO handlers and the REST routes:
 * every action checks the role, runs one script (the change is atomic in Redis) and pushes the
 * result to everyone concerned.
 */
import { randomUUID } from 'node:crypto';
import {
  isTerminal, type Call, type CallRequest, type ListQuery, type UserRole,
} from '../../protocol/index.js';
import { clock, later, type Context } from '../context.js';
import { rematchNear } from '../dispatch/matcher.js';
import { enqueueMatch } from '../dispatch/queue.js';
import { LEASE_MS } from '../dispatch/timers.js';
import { AppError } from '../errors.js';
import { checked } from '../redis/results.js';

export interface User {
  id: string;
  role: UserRole;
}

/** How long a requestId is remembered for idempotency. */
const REQUEST_TTL_S = 24 * 3600;

export function requireRole(user: User, ...roles: UserRole[]): void {
  if (!roles.includes(user.role)) throw new AppError('FORBIDDEN', `role ${user.role} may not do this`);
}

export class CallService {
  constructor(private readonly ctx: Context) {}

  /** Create (or, for a repeated requestId, return) the passenger's call and queue it for matching. */
  async request(user: User, input: CallRequest): Promise<{ call: Call; created: boolean }> {
    requireRole(user, 'passenger');
    const { keys, scripts, queue, notify, log } = this.ctx;
    const id = randomUUID();
    const t = clock();
    const reply = checked(
      await scripts.request(
        keys.request(user.id, input.requestId), keys.passengerActive(user.id), keys.call(id),
        keys.allCalls, keys.passengerCalls(user.id), keys.ledger, keys.callTimers,
        keys.prefix, id, user.id, input.requestId, JSON.stringify(input.pickup), JSON.stringify(input.dropoff),
        t.ms, t.iso, REQUEST_TTL_S, LEASE_MS,
      ),
    );
    const call = JSON.parse(reply[1] as string) as Call;
    const created = reply[0] === 1;
    // A repeat of a request whose enqueue may have failed queues it again (a no-op if queued).
    if (call.status === 'requested') await enqueueMatch(queue, call.id);
    if (created) {
      notify.callChanged(call);
      log.info({ callId: call.id, passengerId: user.id, status: call.status }, 'call requested');
    }
    return { call, created };
  }

  /** The passenger (own call) or an admin cancels a call whose trip has not started. */
  async cancel(user: User, callId: string, reason?: string): Promise<Call> {
    requireRole(user, 'passenger', 'admin');
    const { keys, scripts, notify, log } = this.ctx;
    const t = clock();
    const reply = checked(
      await scripts.cancel(
        keys.call(callId), keys.callOffers(callId), keys.freeDrivers, keys.waitingCalls, keys.ledger, keys.callTimers,
        keys.prefix, user.id, user.role, reason ?? '', t.ms, t.iso,
      ),
    );
    const [, json, revoked, driverId, freed] = reply as [number, string, string[], string, number];
    const call = JSON.parse(json) as Call;
    notify.callChanged(call);
    notify.revoked(revoked, callId, 'cancelled');
    log.info({ callId, status: call.status, by: user.id, driverId: driverId || undefined }, 'call cancelled');
    later(this.ctx, rematchNear(this.ctx, freed === 1 ? [driverId, ...revoked] : revoked), 'rematch near freed drivers');
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
