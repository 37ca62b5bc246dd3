/** zod schemas of every payload in the contract; the server validates with these at the boundary. */
import { z } from 'zod';
import { ErrorCode } from './errors.js';
import { CALL_STATUSES, RevokeReason, UserRole } from './status.js';

/** User and call ids: 1–64 chars of [A-Za-z0-9_-]. */
export const ID_RULE = 'must be 1-64 chars of A-Z a-z 0-9 _ -';
export const Id = z.string().min(1).max(64).regex(/^[A-Za-z0-9_-]+$/, ID_RULE);

export const LatLng = z.object({
  lat: z.number().min(-90).max(90),
  lng: z.number().min(-180).max(180),
});
export type LatLng = z.infer<typeof LatLng>;

export const Place = LatLng.extend({ address: z.string().max(200).optional() });
export type Place = z.infer<typeof Place>;

const Reason = z.string().max(200).optional();

/** A vehicle class name (the server's VEHICLE_CLASSES says which exist; unknown ones are refused). */
export const VEHICLE_CLASS_RULE = 'must be 1-32 chars of a-z 0-9 _ -';
export const VehicleClass = z.string().regex(/^[a-z0-9_-]{1,32}$/, VEHICLE_CLASS_RULE);

/** What a driver says of its vehicle at `driver:online` (all optional: the class defaults). */
export const Vehicle = z.object({
  class: VehicleClass.optional(),
  plate: z.string().min(1).max(20).optional(),
  model: z.string().min(1).max(60).optional(),
  colour: z.string().min(1).max(30).optional(),
});
export type Vehicle = z.infer<typeof Vehicle>;

/** `driver:online`: the position, and optionally the driver's display name and vehicle. */
export const DriverOnline = LatLng.extend({ name: z.string().min(1).max(60).optional(), vehicle: Vehicle.optional() });
export type DriverOnline = z.infer<typeof DriverOnline>;

export const CallRequest = z.object({
  requestId: z.string().min(1).max(64),
  pickup: Place,
  dropoff: Place,
  /** The class of vehicle asked for; unset = the server's default class. */
  vehicleClass: VehicleClass.optional(),
});
export const CallRef = z.object({ callId: Id });
export const CallCancel = z.object({ callId: Id, reason: Reason });
export const Empty = z.object({});
export const TripCancel = CallCancel;

/** Operator levers (admin). */
export const CallRedispatch = z.object({ callId: Id, reason: Reason });
/** A suspension's length: at least a second, at most 30 days; none = until lifted. */
export const SUSPEND_MIN_MS = 1000;
export const SUSPEND_MAX_MS = 30 * 24 * 60 * 60 * 1000;
export const DriverSuspend = z.object({
  driverId: Id,
  reason: z.string().min(1).max(200),
  durationMs: z.number().int().min(SUSPEND_MIN_MS).max(SUSPEND_MAX_MS).optional(),
});
export const DriverLift = z.object({ driverId: Id, reason: Reason });
export type CallRedispatch = z.infer<typeof CallRedispatch>;
export type DriverSuspend = z.infer<typeof DriverSuspend>;
export type DriverLift = z.infer<typeof DriverLift>;
export const SuspendBody = DriverSuspend.omit({ driverId: true });
export const LiftBody = DriverLift.omit({ driverId: true });
export const RedispatchBody = z.object({ reason: Reason });

/** REST-only shapes. */
export const CancelBody = z.object({ reason: Reason });
/** A cursor a listing answered (`next`): opaque text, passed back as it came. */
const Cursor = z.string().min(1).max(512);
/** An ISO-8601 time with its zone (`Z` or an offset). */
const Instant = z.iso.datetime({ offset: true });

/** `GET /api/calls/closed`: calls in a final status, the latest to end first. */
export const ClosedQuery = z.object({
  status: z.enum(['completed', 'cancelled', 'unfulfilled']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: Cursor.optional(),
});
export type ClosedQuery = z.infer<typeof ClosedQuery>;

/** `GET /api/calls/export`: the calls created in [from, to), oldest first, as NDJSON. */
export const ExportQuery = z
  .object({
    from: Instant,
    to: Instant,
    cursor: Cursor.optional(),
    /** Calls at most in this response (unset: the whole range). */
    limit: z.coerce.number().int().min(1).max(10_000_000).optional(),
  })
  .refine((q) => Date.parse(q.from) < Date.parse(q.to), { message: 'from must be before to', path: ['to'] });
export type ExportQuery = z.infer<typeof ExportQuery>;

export const ListQuery = z.object({
  status: z.enum(CALL_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** Token claims (HS256 JWT). */
export const Claims = z.object({ sub: Id, role: z.enum([UserRole.passenger, UserRole.driver, UserRole.admin]) });
export type Claims = z.infer<typeof Claims>;

/** Who is asking: the id and role from the token (`sub`, `role`), never from a payload. */
export interface User {
  id: string;
  role: UserRole;
}

/** Server → client payloads. */

/** The public profile of a call's assigned driver, as it declared it at `driver:online`. */
export const DriverProfile = z.object({
  name: z.string().optional(),
  vehicle: z.object({ class: z.string(), plate: z.string().optional(), model: z.string().optional(), colour: z.string().optional() }),
});
export type DriverProfile = z.infer<typeof DriverProfile>;

/** Not a route: the straight-line distance from the driver to the pickup, at PICKUP_SPEED_KMH. */
export const PickupEstimate = z.object({
  distanceM: z.number(),
  etaS: z.number(),
  method: z.literal('straight-line'),
});
export type PickupEstimate = z.infer<typeof PickupEstimate>;

export const Call = z.object({
  id: z.string(),
  passengerId: z.string(),
  status: z.enum(CALL_STATUSES),
  pickup: Place,
  dropoff: Place,
  driverId: z.string().nullable(),
  seq: z.number().int(),
  createdAt: z.string(),
  updatedAt: z.string(),
  cancelReason: z.string().optional(),
  /** The class of vehicle the call asked for (set on every call the server makes). */
  vehicleClass: z.string().optional(),
  /** The assigned driver's public profile, while a driver is assigned. */
  driverProfile: DriverProfile.optional(),
  /** An estimate of the pickup, made when a driver is assigned: straight-line distance at a fixed speed. */
  pickupEstimate: PickupEstimate.optional(),
});
export type Call = z.infer<typeof Call>;

export const Offer = z.object({
  callId: z.string(),
  pickup: Place,
  dropoff: Place,
  distanceM: z.number(),
  expiresAt: z.number(),
  /** The class of vehicle the call asked for. */
  vehicleClass: z.string().optional(),
});
export type Offer = z.infer<typeof Offer>;

export const OfferRevoked = z.object({
  callId: z.string(),
  reason: z.enum([RevokeReason.taken, RevokeReason.cancelled, RevokeReason.expired, RevokeReason.busy]),
});
export type OfferRevoked = z.infer<typeof OfferRevoked>;

export const DriverLocationPush = z.object({ callId: z.string(), lat: z.number(), lng: z.number(), at: z.string() });
export type DriverLocationPush = z.infer<typeof DriverLocationPush>;

/** The first push on every connection: who the server took the token for, and its protocol version. */
export const Hello = z.object({
  protocol: z.string(),
  userId: z.string(),
  role: z.enum([UserRole.passenger, UserRole.driver, UserRole.admin]),
});
export type Hello = z.infer<typeof Hello>;

/** Ack data and REST bodies that are not a Call. */
export const OnlineResult = z.object({ status: z.literal('available') });
export const OfflineResult = z.object({ status: z.literal('offline') });
export const CallList = z.object({ items: z.array(Call) });
/** `driver:suspend`: `until` is ISO-8601 UTC, or null for until lifted. */
export const SuspendResult = z.object({ driverId: z.string(), suspended: z.literal(true), until: z.string().nullable() });
export const LiftResult = z.object({ driverId: z.string(), suspended: z.literal(false) });
/** Push `driver:suspended`: why, and until when (null: until lifted). */
export const DriverSuspendedPush = z.object({ reason: z.string(), until: z.string().nullable() });
export type DriverSuspendedPush = z.infer<typeof DriverSuspendedPush>;
/** Push `driver:lifted`: the suspension was lifted by an operator; the driver may go online again. */
export const DriverLiftedPush = z.object({});
export const Calls = z.array(Call);


export const WireError = z.object({
  code: z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]),
  message: z.string(),
});
/** Every REST error: `{ error: { code, message } }`. */
export const ErrorBody = z.object({ error: WireError });
export type WireError = z.infer<typeof WireError>;

/** One status change of a call, as the ledger keeps it. */
export const CallEvent = z.object({
  seq: z.number().int(),
  status: z.enum(CALL_STATUSES),
  driverId: z.string().nullable(),
  /** ISO-8601 UTC. */
  at: z.string(),
});
export type CallEvent = z.infer<typeof CallEvent>;
/** `GET /api/calls/:id/history`: every status change of the call, oldest first, from the ledger. */
export const CallHistory = z.object({ callId: z.string(), events: z.array(CallEvent) });
export type CallHistory = z.infer<typeof CallHistory>;

/** One kept point of a trip's track: the trip's assignment generation, its number in the trip (from 1), the driver, where and when. */
export const TrackPoint = z.object({
  gen: z.number().int(),
  seq: z.number().int(),
  driverId: z.string(),
  lat: z.number(),
  lng: z.number(),
  /** ISO-8601 UTC. */
  at: z.string(),
});
export type TrackPoint = z.infer<typeof TrackPoint>;
/**
 * `GET /api/calls/:id/replay` (1.5.0): a call's replay from the ledger: the call, its status
 * timeline (as `call.history`) and the assigned driver's thinned track during each trip (one point
 * per the server's TRACK_SAMPLE_MS, oldest first: by generation, then seq; a back-out then another
 * driver gives two trips, told apart by `gen`).
 */
export const CallReplay = z.object({ callId: z.string(), call: Call, events: z.array(CallEvent), track: z.array(TrackPoint) });
export type CallReplay = z.infer<typeof CallReplay>;

/** One operator lever as the ledger's admin_actions table keeps it. */
export const AdminAction = z.object({
  id: z.string(),
  adminId: z.string(),
  action: z.string(),
  targetType: z.enum(['call', 'driver']),
  targetId: z.string(),
  reason: z.string(),
  /** ISO-8601 UTC. */
  at: z.string(),
  details: z.record(z.string(), z.unknown()),
});
export type AdminAction = z.infer<typeof AdminAction>;
export const AdminActionsQuery = z.object({
  target: Id.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export const AdminActions = z.object({ items: z.array(AdminAction) });

/** A page of a listing: `next` is the cursor of the page after it, null on the last. */
export const ClosedCalls = z.object({ items: z.array(Call), next: z.string().nullable() });

/** The last line of an export: how many calls it wrote, and where to go on (`next`) when it stopped short. */
export const ExportEnd = z.object({
  end: z.object({
    count: z.number().int(),
    /** The cursor to pass to go on: set when `limit` stopped the export or it failed part way; null when the range is complete. */
    next: z.string().nullable(),
    /** Set when the export failed part way (the ledger stopped answering). */
    error: WireError.optional(),
    /**
     * True when no call created in [from, to) can be missing: `to` was past and the ledger had no
     * unwritten change older than `to` when the export began. False: export the range again later.
     */
    settled: z.boolean(),
  }),
});
/** One line of an export: a call, and last the end line. */
export const ExportLine = z.union([Call, ExportEnd]);
export type ExportLine = z.infer<typeof ExportLine>;

export type CallRequest = z.infer<typeof CallRequest>;
export type CallRef = z.infer<typeof CallRef>;
export type CallCancel = z.infer<typeof CallCancel>;
export type TripCancel = z.infer<typeof TripCancel>;
export type ListQuery = z.infer<typeof ListQuery>;

/** Counts by name (a role, a status, a result…). */
const Counts = z.record(z.string(), z.number());
/** One process of the deployment as its heartbeat tells it. */
export const OpsNode = z.object({
  /** `<role>:<host>:<pid>:<random>`. */
  id: z.string(),
  role: z.string(),
  host: z.string(),
  pid: z.number().int().nullable(),
  /** Epoch ms it started (null when its heartbeat has expired). */
  startedMs: z.number().nullable(),
  /** Epoch ms of its last heartbeat. */
  lastSeenMs: z.number(),
  /** No heartbeat for 3 × HEARTBEAT_MS: stopped or unreachable. Listed so for a while, then dropped. */
  gone: z.boolean(),
  /** Its connected sockets by role. */
  sockets: Counts,
  /** Its counters and gauges: `calls.<status>`, `offers`, `accepts.<result>`, `revoked.<reason>`, `rounds`, `roundCalls`, `roundSeconds`, `queue.<state>`, `ledgerLag`, and `toDispatch.le.<seconds>` (cumulative buckets of request → dispatched, `+Inf` last), `toDispatch.count`, `toDispatch.sum` (1.6.0). */
  figures: Counts,
});
/** `GET /api/ops/summary` (admin): the deployment's nodes, their figures summed, and the online drivers and open calls counted. */
export const OpsSummary = z.object({
  nodes: z.array(OpsNode),
  /** The nodes not gone, summed. */
  totals: z.object({ nodes: z.number().int(), gone: z.number().int(), byRole: Counts, sockets: Counts, figures: Counts }),
  /** From the online drivers index; `counted`: how many of them were read for the split (at most 10000). */
  drivers: z.object({
    online: z.number().int(), available: z.number().int(), busy: z.number().int(), away: z.number().int(), counted: z.number().int(),
  }),
  /** From the open calls index; `byStatus` of the `counted` oldest (at most 10000). */
  calls: z.object({ open: z.number().int(), byStatus: Counts, counted: z.number().int() }),
});
export type OpsSummary = z.infer<typeof OpsSummary>;

/** One online driver as the operator feed tells it (1.5.0): from the online drivers index and the driver's hash. */
export const OpsDriver = z.object({
  driverId: z.string(),
  status: z.enum(['available', 'busy', 'offline']),
  /** Disconnected, in its grace period (DRIVER_GRACE_MS): still dispatchable. */
  away: z.boolean(),
  lat: z.number().nullable(),
  lng: z.number().nullable(),
  /** Epoch ms of its last update (online, position, freed). */
  updatedAt: z.number(),
  /** Its trip, when busy. */
  callId: z.string().nullable(),
  vehicleClass: z.string().nullable(),
  /** An operator's suspension counts (driver.suspend). */
  suspended: z.boolean(),
  /** It holds a live offer now (1.6.0). */
  offered: z.boolean(),
});
export type OpsDriver = z.infer<typeof OpsDriver>;
/** `ops:join` and `GET /api/ops/snapshot` (admin, 1.5.0): the online drivers and open calls now, bounded (OPS_SNAPSHOT_MAX). */
export const OpsSnapshot = z.object({
  /** Epoch ms it was read. */
  at: z.number(),
  /** The most recently updated first. */
  drivers: z.array(OpsDriver),
  /** The oldest first. */
  calls: z.array(Call),
  summary: OpsSummary,
  /** True when an index held more than OPS_SNAPSHOT_MAX members: the list was cut. */
  truncated: z.object({ drivers: z.boolean(), calls: z.boolean() }),
});
export type OpsSnapshot = z.infer<typeof OpsSnapshot>;
/** `ops:delta` (1.5.0): what changed since the last delta of this gateway, at most every OPS_FEED_MS, never empty. */
export const OpsDelta = z.object({
  at: z.number(),
  /** Drivers updated since the last delta, latest state each. */
  drivers: z.array(OpsDriver),
  /** Driver ids that left the online drivers index (offline). */
  gone: z.array(z.string()),
  /** Calls that changed, latest state each. */
  calls: z.array(Call),
  /** The summary again, about every 5 s. */
  summary: OpsSummary.optional(),
});
export type OpsDelta = z.infer<typeof OpsDelta>;
