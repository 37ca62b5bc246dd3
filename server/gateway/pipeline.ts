/**
 * The one action pipeline, run for every request of both transports (the Socket.IO and REST
 * adapters only turn what arrives into `runAction(user, action, payload)` and the outcome into an
 * ack or an HTTP answer). The user comes authenticated (the handshake, or the bearer token before
 * the body is read); then, in this order:
 *
 *   validate the payload with the action's schema (VALIDATION_FAILED: no rate-limit point spent)
 *   → counted in flight (a graceful stop waits for it)
 *   → the Redis circuit breaker (UNAVAILABLE within REDIS_TIMEOUT_MS, or at once while open) around
 *       the rate limit (Redis-backed, so a hung Redis is answered by the breaker) → the action
 *   → any failure as a wire error (contract codes only; anything else INTERNAL, logged).
 *
 * Position reports (`driver.location`) run in a lane of their own: their own breaker and their
 * own rate limit (see breaker.ts).
 */
import type { Logger } from 'pino';
import type { ZodError } from 'zod';
import {
  ID_RULE, pathIdField, routeHasId, type ActionName, type ActionNamed, type ActionPayload, type ActionResult, type AnyAction, type Transport, type User,
  type WireError,
} from '../../protocol/index.js';
import { describeZodError, toWireError } from '../errors.js';
import type { InFlight } from '../inflight.js';
import type { Metrics } from '../metrics.js';
import { Repeated, type Bindings } from './actions.js';
import type { Breaker, Circuit } from './breaker.js';
import type { LimitKind, Limits } from './limits.js';

/** What an action answered: its data (`repeated`: REST answers its route's second status), or a wire error. */
export type Outcome<T> = { ok: true; data: T; repeated: boolean } | { ok: false; error: WireError };

export type RunAction = <N extends ActionName>(user: User, action: ActionNamed<N>, raw: unknown, transport: Transport) => Promise<Outcome<ActionResult<N>>>;

export interface PipelineDeps {
  bindings: Bindings;
  limits: Pick<Limits, 'take'>;
  breakers: Readonly<Record<Circuit, Breaker>>;
  inflight: Pick<InFlight, 'track'>;
  metrics: Pick<Metrics, 'rateLimited'>;
  log: Logger;
}

/** The lane of each action that does not run in the common one: its rate limit and its circuit. */
const LANES: Partial<Record<ActionName, { limit: LimitKind; circuit: Circuit }>> = {
  'driver.location': { limit: 'location', circuit: 'locations' },
};
const COMMON = { limit: 'event', circuit: 'requests' } as const;

/** What REST answers for a malformed path id, whatever is wrong with it. */
export const PATH_ID_MESSAGE = `id: ${ID_RULE}`;

export function createPipeline(d: PipelineDeps): RunAction {
  // Never rejects: every failure, even of the validation itself, is an outcome.
  const run = async (user: User, action: AnyAction, raw: unknown, transport: Transport): Promise<Outcome<unknown>> => {
    const lane = LANES[action.name] ?? COMMON;
    const breaker = d.breakers[lane.circuit];
    try {
      const parsed = action.payload.safeParse(raw ?? {});
      if (!parsed.success) return { ok: false, error: validationError(parsed.error, action, transport) };
      const answer = await d.inflight.track(() => breaker(async () => {
        await d.limits.take(lane.limit, user.id);
        return invoke(d.bindings, action.name, user, parsed.data);
      }));
      return answer instanceof Repeated ? { ok: true, data: answer.data, repeated: true } : { ok: true, data: answer, repeated: false };
    } catch (err) {
      const error = toWireError(err, (e) => d.log.error({ err: e, userId: user.id, action: action.name, transport }, 'action failed'));
      if (error.code === 'RATE_LIMITED') d.metrics.rateLimited.inc({ kind: transport === 'rest' ? 'rest' : lane.limit });
      return { ok: false, error };
    }
  };
  return run as RunAction;
}

/** One binding, called with its action's payload (which has just passed that action's schema). */
function invoke<N extends ActionName>(bindings: Bindings, name: N, user: User, payload: unknown) {
  return bindings[name](user, payload as ActionPayload<N>);
}

/** A schema's refusal: over REST a bad path id is named as the path's `id`, as the route writes it. */
function validationError(err: ZodError, action: AnyAction, transport: Transport): WireError {
  const pathId = transport === 'rest' && routeHasId(action.route) && err.issues.some((i) => i.path[0] === pathIdField(action.route));
  return { code: 'VALIDATION_FAILED', message: pathId ? PATH_ID_MESSAGE : describeZodError(err) };
}
