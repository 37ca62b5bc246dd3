/**
 * The ledger on PostgreSQL: the tables of schema.ts (SQLite), column for column, with PostgreSQL's
 * types where they help an operator's own queries: times are timestamptz, the wire Call is json.
 * Not jsonb: jsonb refuses the escape \u0000, which free text of a call (an address, a reason) may
 * hold, and json keeps the call exactly as it was sent; `json->>'field'` works on both.
 */
import { doublePrecision, index, integer, json, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

const time = (name: string) => timestamp(name, { withTimezone: true, mode: 'string', precision: 3 });

export const calls = pgTable(
  'calls',
  {
    id: text('id').primaryKey(),
    passengerId: text('passenger_id').notNull(),
    status: text('status').notNull(),
    driverId: text('driver_id'),
    pickupLat: doublePrecision('pickup_lat').notNull(),
    pickupLng: doublePrecision('pickup_lng').notNull(),
    dropoffLat: doublePrecision('dropoff_lat').notNull(),
    dropoffLng: doublePrecision('dropoff_lng').notNull(),
    /** The full wire Call at `seq`. */
    json: json('json').notNull(),
    seq: integer('seq').notNull(),
    createdAt: time('created_at').notNull(),
    updatedAt: time('updated_at').notNull(),
  },
  (t) => [index('calls_created_idx').on(t.createdAt, t.id), index('calls_updated_idx').on(t.updatedAt, t.id)],
);

export const callEvents = pgTable(
  'call_events',
  {
    callId: text('call_id').notNull(),
    seq: integer('seq').notNull(),
    status: text('status').notNull(),
    driverId: text('driver_id'),
    at: time('at').notNull(),
    streamId: text('stream_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.callId, t.seq] })],
);

/** The assignment fence (see schema.ts): its primary key refuses a second driver across every dispatcher. */
export const callAssignments = pgTable(
  'call_assignments',
  {
    callId: text('call_id').notNull(),
    gen: integer('gen').notNull(),
    driverId: text('driver_id').notNull(),
    seq: integer('seq').notNull(),
    at: time('at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.callId, t.gen] })],
);

/** Operator levers (see schema.ts). */
export const adminActions = pgTable(
  'admin_actions',
  {
    id: text('id').primaryKey(),
    adminId: text('admin_id').notNull(),
    action: text('action').notNull(),
    targetType: text('target_type').notNull(),
    targetId: text('target_id').notNull(),
    reason: text('reason').notNull(),
    at: time('at').notNull(),
    details: json('details').notNull(),
  },
  (t) => [index('admin_actions_target_idx').on(t.targetId, t.at), index('admin_actions_at_idx').on(t.at)],
);

/** The thinned track of each trip (see schema.ts): key call, assignment generation, point number. */
export const callTracks = pgTable(
  'call_tracks',
  {
    callId: text('call_id').notNull(),
    gen: integer('gen').notNull(),
    seq: integer('seq').notNull(),
    driverId: text('driver_id').notNull(),
    lat: doublePrecision('lat').notNull(),
    lng: doublePrecision('lng').notNull(),
    at: time('at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.callId, t.gen, t.seq] })],
);
