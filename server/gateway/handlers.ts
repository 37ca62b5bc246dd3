/**
 * The table of client events: for each, the payload schema and the action. The boundary
 * (socket.ts) validates with the schema before the action runs, so actions get typed values only.
 */
import { z } from 'zod';
import {
  CallCancel, CallRef, CallRequest, Empty, LatLng, TripCancel, type ClientEvent,
} from '../../protocol/index.js';
import type { DriverService } from '../calls/driver.js';
import type { CallService, User } from '../calls/service.js';

export interface Handler<S extends z.ZodType = z.ZodType> {
  schema: S;
  run(user: User, input: z.infer<S>): Promise<unknown>;
}

const handler = <S extends z.ZodType>(schema: S, run: (user: User, input: z.infer<S>) => Promise<unknown>): Handler =>
  ({ schema, run });

export interface Services {
  calls: CallService;
  drivers: DriverService;
}

export function socketHandlers({ calls, drivers }: Services): Record<ClientEvent, Handler> {
  return {
    'call:request': handler(CallRequest, async (u, p) => (await calls.request(u, p)).call),
    'call:cancel': handler(CallCancel, (u, p) => calls.cancel(u, p.callId, p.reason)),
    'call:get': handler(CallRef, (u, p) => calls.get(u, p.callId)),
    'call:active': handler(Empty, (u) => calls.active(u)),
    'driver:online': handler(LatLng, (u, p) => drivers.online(u, p)),
    'driver:offline': handler(Empty, (u) => drivers.offline(u)),
    'driver:location': handler(LatLng, (u, p) => drivers.location(u, p)),
    'offer:accept': handler(CallRef, (u, p) => drivers.accept(u, p.callId)),
    'offer:reject': handler(CallRef, (u, p) => drivers.reject(u, p.callId)),
    'trip:arrived': handler(CallRef, (u, p) => drivers.step(u, p.callId, 'arrived')),
    'trip:start': handler(CallRef, (u, p) => drivers.step(u, p.callId, 'in_progress')),
    'trip:complete': handler(CallRef, (u, p) => drivers.step(u, p.callId, 'completed')),
    'trip:cancel': handler(TripCancel, (u, p) => drivers.backOut(u, p.callId, p.reason)),
  };
}
