/**
 * What riders (and admins) can do with calls, shared by the Socket.IO handlers and the REST routes:
 * every action checks the role, runs one command (the change is atomic in Redis) and carries out
 * what the command says follows (pushes, matching).
 */
import { randomUUID } from 'node:crypto';
import {
  isTerminal, type AdminAction, type Call, type CallHistory, type CallReplay, type CallRequest, type ClosedQuery, type ExportLine, type ExportQuery, type ListQuery, type User,
  type UserRole,
} from '../../protocol/index.js';
import { clock, follow, type Context } from '../context.js';
import { AppError } from '../errors.js';
import { TIMER_LEASE_MS } from '../jobs.js';
import { decodeCursor, encodeCursor, type Cursor, type LedgerReads } from '../ledger/store.js';
import { regionOf, regionResolution } from '../region.js';

/** Calls one export reads from the ledger at a time. */
const EXPORT_PAGE = 1000;

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
      now: clock(), requestTtlMs: this.ctx.config.REQUEST_ID_TTL_MS, safetyTimerMs: TIMER_LEASE_MS, region: regionOf(input.pickup, this.resolution), vehicleClass,
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

  /** An admin takes a dispatched (or arrived) call from its driver; the call is matched again without it. */
  async redispatch(user: User, callId: string, reason?: string): Promise<Call> {
    requireRole(user, 'admin');
    const { call, driverId, effects } = await this.ctx.commands.redispatch({ callId, adminId: user.id, reason: reason ?? '', now: clock() });
    await follow(this.ctx, effects);
    this.ctx.log.info({ callId, by: user.id, driverId, reason }, 'call redispatched by an admin');
    return call;
  }

  /** Operator levers recorded in the ledger, newest first (admin). */
  async adminActions(user: User, q: { target?: string | undefined; limit: number }): Promise<{ items: AdminAction[] }> {
    requireRole(user, 'admin');
    const ledger = this.ledger();
    return { items: await reading(ledger.adminActions({ targetId: q.target, limit: q.limit })) };
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

  /** Every status change of a call, from the ledger: for whoever may read the call. */
  async history(user: User, callId: string): Promise<CallHistory> {
    const ledger = this.ledger();
    await this.get(user, callId);
    return { callId, events: await reading(ledger.history(callId)) };
  }

  /**
   * A call's replay from the ledger (for whoever may read the call): the call as the ledger last
   * wrote it (as Redis has it while the ledger has not caught up), its timeline and its track.
   */
  async replay(user: User, callId: string): Promise<CallReplay> {
    const ledger = this.ledger();
    const live = await this.get(user, callId);
    const [call, events, track] = await reading(Promise.all([ledger.call(callId), ledger.history(callId), ledger.track(callId)]));
    return { callId, call: call && call.seq >= live.seq ? call : live, events, track };
  }

  /** Ended calls from the ledger, the latest to end first, a page at a time (admin). */
  async closed(user: User, q: ClosedQuery): Promise<{ items: Call[]; next: string | null }> {
    requireRole(user, 'admin');
    const ledger = this.ledger();
    const rows = await reading(ledger.closed({ status: q.status, limit: q.limit + 1, before: q.cursor === undefined ? undefined : cursorOf(q.cursor) }));
    const items = rows.slice(0, q.limit);
    const last = items.at(-1);
    return { items, next: rows.length > q.limit && last ? encodeCursor({ at: last.updatedAt, id: last.id }) : null };
  }

  /**
   * The calls created in [from, to) from the ledger, oldest first, then the end line (admin). The
   * first page is read before anything is answered, so a ledger that cannot be read is an error
   * status; a failure later ends the stream with the error in its end line, and where to go on.
   */
  async export(user: User, q: ExportQuery): Promise<AsyncIterable<ExportLine>> {
    requireRole(user, 'admin');
    const ledger = this.ledger();
    const max = q.limit ?? Infinity;
    let after = q.cursor === undefined ? undefined : cursorOf(q.cursor);
    const page = (limit: number) => reading(ledger.exportPage({ from: q.from, to: q.to, after, limit }));
    // Settled: nothing created in the range can still arrive (changes reach the ledger in order of the stream).
    const [oldest] = await this.ctx.redis.xrange(this.ctx.keys.ledger, '-', '+', 'COUNT', 1);
    const toMs = Date.parse(q.to);
    const settled = toMs <= Date.now() && (!oldest || Number(oldest[0].split('-')[0]) >= toMs);
    let rows: Call[] | undefined = await page(Math.min(EXPORT_PAGE, max));
    const log = this.ctx.log;
    return (async function* lines(): AsyncGenerator<ExportLine> {
      let count = 0;
      const next = () => (after ? encodeCursor(after) : null);
      try {
        for (;;) {
          const want = Math.min(EXPORT_PAGE, max - count);
          const got: Call[] = rows ?? (await page(want));
          rows = undefined;
          for (const call of got) {
            yield call;
            after = { at: call.createdAt, id: call.id };
            count++;
          }
          if (got.length < want) break; // the range is done
          if (count >= max) {
            // Stopped by the limit: a cursor only if there is more.
            const more = await page(1);
            yield { end: { count, next: more.length > 0 ? next() : null, settled } };
            return;
          }
        }
        yield { end: { count, next: null, settled } };
      } catch (err) {
        log.warn({ err, count }, 'export: the ledger failed part way');
        yield { end: { count, next: next(), settled, error: { code: 'UNAVAILABLE', message: 'the ledger stopped answering: ask again from next' } } };
      }
    })();
  }

  /** The ledger's reads, or UNAVAILABLE where this process cannot read it. */
  private ledger(): LedgerReads {
    if (!this.ctx.ledger) throw new AppError('UNAVAILABLE', LEDGER_UNREADABLE);
    return this.ctx.ledger;
  }

  /**
   * A call from Redis, or from the ledger once retention removed it there. Retention removes only
   * ended calls, and only after the ledger committed their final change, so only a row in a final
   * status is that call's answer (a SQLite file of one of several dispatchers may hold an older one).
   */
  private async load(callId: string): Promise<Call | null> {
    const json = await this.ctx.redis.hget(this.ctx.keys.call(callId), 'json');
    if (json) return JSON.parse(json) as Call;
    const row = this.ctx.ledger ? await reading(this.ctx.ledger.call(callId)) : null;
    return row && isTerminal(row.status) ? row : null;
  }
}

/** What a gateway without a readable ledger answers for the ledger's routes. */
export const LEDGER_UNREADABLE =
  'the ledger is not readable from this process: with SQLite only a process that writes it (ROLE=all) serves this; with DATABASE_URL every gateway does';

/** A ledger read; a database that does not answer is UNAVAILABLE, not an internal error. */
async function reading<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    throw new AppError('UNAVAILABLE', 'the ledger is not answering', { cause: err });
  }
}

function cursorOf(text: string): Cursor {
  const cursor = decodeCursor(text);
  if (!cursor) throw new AppError('VALIDATION_FAILED', 'cursor: not a cursor this server gave');
  return cursor;
}
