/** Typed Socket.IO event maps for both directions, and the ack union. */
import type {
  Call, CallCancel, CallRedispatch, CallRef, CallRequest, DriverLift, DriverLocationPush, DriverOnline, DriverSuspend, DriverSuspendedPush, Hello, LatLng,
  Offer, OfferRevoked, OpsDelta, OpsSnapshot, TripCancel, WireError,
} from './schemas.js';

/** Every ack is one of these two shapes, never a thrown exception. */
export type Response<T> = { ok: true; data: T } | { ok: false; error: WireError };
export type Ack<T> = (res: Response<T>) => void;

export type EmptyObject = Record<string, never>;

export interface ClientToServerEvents {
  // passenger
  'call:request': (payload: CallRequest, ack: Ack<Call>) => void;
  'call:cancel': (payload: CallCancel, ack: Ack<Call>) => void;
  'call:get': (payload: CallRef, ack: Ack<Call>) => void;
  'call:active': (payload: EmptyObject, ack: Ack<Call[]>) => void;
  // driver
  'driver:online': (payload: DriverOnline, ack: Ack<{ status: 'available' }>) => void;
  'driver:offline': (payload: EmptyObject, ack: Ack<{ status: 'offline' }>) => void;
  'driver:location': (payload: LatLng, ack: Ack<EmptyObject>) => void;
  'offer:accept': (payload: CallRef, ack: Ack<Call>) => void;
  'offer:reject': (payload: CallRef, ack: Ack<EmptyObject>) => void;
  'trip:arrived': (payload: CallRef, ack: Ack<Call>) => void;
  'trip:start': (payload: CallRef, ack: Ack<Call>) => void;
  'trip:complete': (payload: CallRef, ack: Ack<Call>) => void;
  'trip:cancel': (payload: TripCancel, ack: Ack<Call>) => void;
  // admin (operator levers, 1.4.0)
  'call:redispatch': (payload: CallRedispatch, ack: Ack<Call>) => void;
  'driver:suspend': (payload: DriverSuspend, ack: Ack<{ driverId: string; suspended: true; until: string | null }>) => void;
  'driver:lift': (payload: DriverLift, ack: Ack<{ driverId: string; suspended: false }>) => void;
  // admin (operator feed, 1.5.0)
  'ops:join': (payload: EmptyObject, ack: Ack<OpsSnapshot>) => void;
  'ops:leave': (payload: EmptyObject, ack: Ack<EmptyObject>) => void;
}

export interface ServerToClientEvents {
  hello: (hello: Hello) => void;
  'call:status': (call: Call) => void;
  'driver:location': (loc: DriverLocationPush) => void;
  offer: (offer: Offer) => void;
  'offer:revoked': (revoked: OfferRevoked) => void;
  'trip:status': (call: Call) => void;
  'driver:suspended': (push: DriverSuspendedPush) => void;
  'driver:lifted': (push: EmptyObject) => void;
  'ops:delta': (delta: OpsDelta) => void;
}

export type ClientEvent = keyof ClientToServerEvents;
export type ServerEvent = keyof ServerToClientEvents;

/** The payload and the ack data of a client event, from the event map. */
export type Payload<E extends ClientEvent> = Parameters<ClientToServerEvents[E]>[0];
export type AckData<E extends ClientEvent> = Parameters<ClientToServerEvents[E]>[1] extends Ack<infer T> ? T : never;

/** Room names the server pushes to; a socket joins the room of its user. */
export const rooms = {
  passenger: (id: string) => `passenger:${id}`,
  driver: (id: string) => `driver:${id}`,
  admin: (id: string) => `admin:${id}`,
  /** The operator feed's room: admins who sent ops:join (each gateway emits to its own members only). */
  ops: 'ops',
} as const;
