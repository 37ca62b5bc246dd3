/**
 * The server's side of the action table (protocol/actions.ts): each action bound to its service
 * call. The mapped type holds every binding to its action: it takes the validated payload and
 * answers the action's result, for an event action exactly the event's ack data (`AckData<E>`),
 * so an answer of the wrong shape does not compile. The pipeline (pipeline.ts) runs the bindings
 * for both transports.
 */
import type { ActionName, ActionPayload, ActionResult, User } from '../../protocol/index.js';
import type { DriverService } from '../calls/driver.js';
import type { OpsService } from '../calls/ops.js';
import type { CallService } from '../calls/service.js';

export interface Services {
  calls: CallService;
  drivers: DriverService;
  ops: OpsService;
}

/** A success REST answers with its route's second status (`route.also`): a repeated request. */
export class Repeated<T> {
  constructor(readonly data: T) {}
}

/** One action's service call: the validated payload in, the action's result out. */
export type Binding<N extends ActionName> = (user: User, payload: ActionPayload<N>) => Promise<ActionResult<N> | Repeated<ActionResult<N>>>;
export type Bindings = { readonly [N in ActionName]: Binding<N> };

export function bindActions({ calls, drivers, ops }: Services): Bindings {
  return {
    'call.request': async (u, p) => {
      const { call, created } = await calls.request(u, p);
      return created ? call : new Repeated(call);
    },
    'call.cancel': (u, p) => calls.cancel(u, p.callId, p.reason),
    'call.get': (u, p) => calls.get(u, p.callId),
    'call.active': (u) => calls.active(u),
    'call.list': async (u, q) => ({ items: await calls.list(u, q) }),
    'call.history': (u, p) => calls.history(u, p.callId),
    'call.replay': (u, p) => calls.replay(u, p.callId),
    'call.closed': (u, q) => calls.closed(u, q),
    'call.export': (u, q) => calls.export(u, q),
    'ops.summary': (u) => ops.summary(u),
    'ops.join': (u) => ops.snapshot(u),
    'ops.leave': (u) => ops.leave(u),
    'driver.online': (u, p) => drivers.online(u, p),
    'driver.offline': (u) => drivers.offline(u),
    'driver.location': (u, p) => drivers.location(u, p),
    'offer.accept': (u, p) => drivers.accept(u, p.callId),
    'offer.reject': (u, p) => drivers.reject(u, p.callId),
    'trip.arrived': (u, p) => drivers.step(u, p.callId, 'arrived'),
    'trip.start': (u, p) => drivers.step(u, p.callId, 'in_progress'),
    'trip.complete': (u, p) => drivers.step(u, p.callId, 'completed'),
    'trip.cancel': (u, p) => drivers.backOut(u, p.callId, p.reason),
    'call.redispatch': (u, p) => calls.redispatch(u, p.callId, p.reason),
    'driver.suspend': (u, p) => drivers.suspend(u, p.driverId, p.reason, p.durationMs),
    'driver.lift': (u, p) => drivers.lift(u, p.driverId, p.reason),
    'admin.actions': (u, q) => calls.adminActions(u, q),
  };
}
