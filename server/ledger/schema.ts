/**
 * The ledger on SQLite: every call (its latest state) and every status change of it. The same
 * tables on PostgreSQL are in schema.pg.ts; the two are kept column for column alike.
 */
import { index, integer, primaryKey, real, sqliteTable, text } from 'drizzle-orm/sqlite-core';

export const calls = sqliteTable(
  'calls',
  {
    id: text('id').primaryKey(),
    passengerId: text('passenger_id').notNull(),
    status: text('status').notNull(),
    driverId: text('driver_id'),
    pickupLat: real('pickup_lat').notNull(),
    pickupLng: real('pickup_lng').notNull(),
    dropoffLat: real('dropoff_lat').notNull(),
    dropoffLng: real('dropoff_lng').notNull(),
    /** The full wire Call at `seq`, so nothing the contract holds is lost. */
    json: text('json').notNull(),
    seq: integer('seq').notNull(),
    /** ISO-8601 UTC with milliseconds: sorts as text. */
    createdAt: text('created_at').notNull(),
    updatedAt: text('updated_at').notNull(),
  },
  // The export reads by creation time, the closed-calls listing by the time of the last change.
  (t) => [index('calls_created_idx').on(t.createdAt, t.id), index('calls_updated_idx').on(t.updatedAt, t.id)],
);

export const callEvents = sqliteTable(
  'call_events',
  {
    callId: text('call_id').notNull(),
    seq: integer('seq').notNull(),
    status: text('status').notNull(),
    driverId: text('driver_id'),
    at: text('at').notNull(),
    /** Redis stream entry id it came from. */
    streamId: text('stream_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.callId, t.seq] })],
);

/**
 * The last fence against a double assignment: one driver per call and assignment generation (the
 * generation moves on only when the assigned driver backs out). If Redis ever forgot a winner (a
 * failover losing acknowledged writes), a second winner of the same generation is refused here.
 */
export const callAssignments = sqliteTable(
  'call_assignments',
  {
    callId: text('call_id').notNull(),
    gen: integer('gen').notNull(),
    driverId: text('driver_id').notNull(),
    seq: integer('seq').notNull(),
    at: text('at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.callId, t.gen] })],
);

/**
 * Operator levers (call.cancel by an admin, call.redispatch, driver.suspend, driver.lift): who, on
 * what, why and when. `id` is the ledger stream entry id, so a replayed entry is written once.
 */
export const adminActions = sqliteTable(
  'admin_actions',
  {
    id: text('id').primaryKey(),
    adminId: text('admin_id').notNull(),
    action: text('action').notNull(),
    /** 'call' | 'driver' */
    targetType: text('target_type').notNull(),
    targetId: text('target_id').notNull(),
    /** '' when none was given; U+0000 is stored as U+FFFD (PostgreSQL's text refuses it). */
    reason: text('reason').notNull(),
    /** ISO-8601 UTC with milliseconds. */
    at: text('at').notNull(),
    /** JSON: what else the lever says (a suspension's `until`, the released driver). */
    details: text('details').notNull(),
  },
  (t) => [index('admin_actions_target_idx').on(t.targetId, t.at), index('admin_actions_at_idx').on(t.at)],
);

/**
 * The thinned track of each trip (driver-location.lua, a kind=track ledger entry per kept point):
 * one point per TRACK_SAMPLE_MS while the assigned driver is on the trip, at most TRACK_MAX_POINTS
 * per trip. A trip is one assignment generation of a call: after a back-out another driver drives
 * the same call under the next generation, so `gen` is in the key. A replayed entry is written once.
 */
export const callTracks = sqliteTable(
  'call_tracks',
  {
    callId: text('call_id').notNull(),
    gen: integer('gen').notNull(),
    /** The point's number in its trip, from 1. */
    seq: integer('seq').notNull(),
    driverId: text('driver_id').notNull(),
    lat: real('lat').notNull(),
    lng: real('lng').notNull(),
    /** ISO-8601 UTC with milliseconds. */
    at: text('at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.callId, t.gen, t.seq] })],
);
