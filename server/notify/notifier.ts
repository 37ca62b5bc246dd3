/**
 * Pushes call changes and offers to the rooms of riders and drivers, wherever they are connected.
 * Gateways push through their Socket.IO server (the Redis adapter forwards to other nodes), the
 * dispatcher through @socket.io/redis-emitter: both have the same `to(room).emit` shape.
 */
import {
  rooms, type Call, type DriverLocationPush, type DriverSuspendedPush, type Offer, type RevokeReason, type ServerToClientEvents,
} from '../../protocol/index.js';

type Emit = <E extends keyof ServerToClientEvents>(event: E, ...args: Parameters<ServerToClientEvents[E]>) => unknown;
export interface Broadcaster {
  to(room: string | string[]): { emit: Emit };
}

export class Notifier {
  /** @param onChange sees every change pushed (for metrics). */
  constructor(
    private readonly out: Broadcaster,
    private readonly onChange?: (call: Call) => void,
  ) {}

  /** A call changed: its rider gets `call:status`, its driver (if any) `trip:status`. */
  callChanged(call: Call): void {
    this.onChange?.(call);
    this.out.to(rooms.passenger(call.passengerId)).emit('call:status', call);
    if (call.driverId) this.out.to(rooms.driver(call.driverId)).emit('trip:status', call);
  }

  /** Also tell a driver who just left the trip (backed out, or was cancelled on). */
  tripEnded(driverId: string, call: Call): void {
    this.out.to(rooms.driver(driverId)).emit('trip:status', call);
  }

  offer(driverId: string, offer: Offer): void {
    this.out.to(rooms.driver(driverId)).emit('offer', offer);
  }

  /** The assigned driver's position, to the rider of the trip. */
  driverLocation(passengerId: string, loc: DriverLocationPush): void {
    this.out.to(rooms.passenger(passengerId)).emit('driver:location', loc);
  }

  /** An operator suspended the driver: why, and until when. */
  suspended(driverId: string, push: DriverSuspendedPush): void {
    this.out.to(rooms.driver(driverId)).emit('driver:suspended', push);
  }

  /** An operator lifted the driver's suspension. */
  lifted(driverId: string): void {
    this.out.to(rooms.driver(driverId)).emit('driver:lifted', {});
  }

  revoked(driverIds: string[], callId: string, reason: RevokeReason): void {
    if (driverIds.length === 0) return;
    this.out.to(driverIds.map(rooms.driver)).emit('offer:revoked', { callId, reason });
  }
}
