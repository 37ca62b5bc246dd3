/**
 * The one place Redis key names are made. Every key starts with KEY_PREFIX, so deployments and
 * tests can share one Redis. Scripts never make a key: the command layer (commands.ts) passes every
 * key a script touches in its KEYS (test/keys.test.ts and the test mode of scripts.ts check it).
 */
export interface Keys {
  prefix: string;
  /** HASH: json (the wire Call), status, passengerId, requestId, region, createdMs, wave (offer waves so far: the fence of its timer), gen (assignment generation: moves on when a driver backs out), deadline (epoch ms: unfulfilled after it; set at the first matching, and again after a back-out). */
  call(callId: string): string;
  /** HASH: driverId → offer state (expiry epoch ms while live, else rejected|revoked|won|busy|expired|backedout). */
  callOffers(callId: string): string;
  /** HASH: driverId → the offer JSON as it went to that driver (written with the wave, read by its follow-up). */
  callSent(callId: string): string;
  /**
   * HASH: status (available|busy|offline), lat, lng, callId (current trip), updatedAt, connects (a counter of
   * its socket connections), awaySince
   * (ms of the disconnect its grace runs from, '' while connected), offlineAfterTrip, lastPush,
   * vehicleClass, profile (its public profile JSON, when it declared one), freeSince (ms it last became free).
   */
  driver(driverId: string): string;
  /** HASH: callId → offer JSON as sent to the driver (validated against callOffers on read). */
  driverOffers(driverId: string): string;
  /** STRING: the passenger's non-terminal call id. */
  passengerActive(passengerId: string): string;
  /** ZSET: the passenger's calls by creation time. */
  passengerCalls(passengerId: string): string;
  /** STRING with TTL: idempotency record requestId → callId. */
  request(passengerId: string, requestId: string): string;
  /** GEO set of drivers who are online and free. */
  freeDrivers: string;
  /** ZSET: every online driver (free or busy) → epoch ms of its last update (online, position, freed); kept by the steps that make it online, move it or take it offline. */
  onlineDrivers: string;
  /** ZSET: every call not in a final status → its creation ms; request.lua adds it, the step that ends it removes it (lib/call.lua record). */
  openCalls: string;
  /** STRING with TTL 3 × OPS_FEED_MS: someone watches the operator feed (refreshed by every gateway with joined admins). */
  opsWatched: string;
  /** Pub/sub channel: every changed call's JSON, published while opsWatched exists (server/ops/tap.ts). */
  opsCalls: string;
  /** HASH with TTL: one process's heartbeat (server/ops/heartbeat.ts): role, host, pid, started, seen, and its figures. */
  node(nodeId: string): string;
  /** ZSET: every process that sent a heartbeat → epoch ms of its last one (server/ops/deployment.ts drops the long gone). */
  nodes: string;
  /** GEO set of open calls (by pickup) a round found no driver for: they wait for a driver to become free nearby. Members: waitingMember(). */
  waitingCalls: string;
  /** ZSET: a region's calls ready for its next matching round (new, or their wave ended), by creation time (ms). Lazy: a round drops what is no longer ready. */
  regionReady(region: string): string;
  /** STRING with TTL: the fencing token of the round that holds the region (server/dispatch/round.ts). */
  regionLease(region: string): string;
  /** STRING: a counter, the region's last fencing token. */
  regionFence(region: string): string;
  /** STRING with TTL: the calls one round job offered (JSON list), for a re-run of that job to push again. */
  roundRecord(jobId: string): string;
  /** ZSET: regions with a round queued, running, or calls ready; score when the sweep looks at one nobody ran. */
  regions: string;
  /** ZSET: every call by creation time (admin listing). */
  allCalls: string;
  /** ZSET: the timer of each open call, member `callId:wave`, score when it is due (its wave's end or its deadline); swept by dispatchers. */
  callTimers: string;
  /** STREAM: every state change not yet written to the ledger (SQLite or PostgreSQL); written entries are deleted. */
  ledger: string;
  /** STREAM: ledger entries the database refused for their data (fields of the entry, plus streamId and error): for an operator to look at. */
  ledgerDead: string;
  /** ZSET: ended calls whose final change the ledger has committed, by the time they ended; retention removes them (CALL_RETENTION_MS). */
  endedCalls: string;
  /** Socket.IO redis-adapter / emitter channel prefix. */
  adapterChannel: string;
  /** Key prefix of one rate limiter (rate-limiter-flexible appends the limited key). */
  rateLimit(name: string): string;
}

export function makeKeys(prefix: string): Keys {
  return {
    prefix,
    call: (id) => `${prefix}:call:${id}`,
    callOffers: (id) => `${prefix}:call:${id}:offers`,
    callSent: (id) => `${prefix}:call:${id}:sent`,
    driver: (id) => `${prefix}:driver:${id}`,
    driverOffers: (id) => `${prefix}:driver:${id}:offers`,
    passengerActive: (id) => `${prefix}:passenger:${id}:active`,
    passengerCalls: (id) => `${prefix}:passenger:${id}:calls`,
    request: (pid, rid) => `${prefix}:passenger:${pid}:req:${rid}`,
    freeDrivers: `${prefix}:drivers:free`,
    onlineDrivers: `${prefix}:drivers:online`,
    openCalls: `${prefix}:calls:open`,
    opsWatched: `${prefix}:ops:watched`,
    opsCalls: `${prefix}:ops:calls`,
    node: (id) => `${prefix}:node:${id}`,
    nodes: `${prefix}:nodes`,
    waitingCalls: `${prefix}:calls:waiting`,
    regionReady: (r) => `${prefix}:region:${r}:ready`,
    regionLease: (r) => `${prefix}:region:${r}:lease`,
    regionFence: (r) => `${prefix}:region:${r}:fence`,
    regions: `${prefix}:regions`,
    roundRecord: (jobId) => `${prefix}:round:${jobId}`,
    allCalls: `${prefix}:calls`,
    callTimers: `${prefix}:timers:calls`,
    ledger: `${prefix}:ledger`,
    endedCalls: `${prefix}:calls:ended`,
    ledgerDead: `${prefix}:ledger:dead`,
    adapterChannel: `${prefix}:sio`,
    rateLimit: (name) => `${prefix}:rl:${name}`,
  };
}

/**
 * A call's member in the waiting calls GEO set: `class:callId`, so a freed driver finds the
 * waiting calls of its class among many of others (scripts/lib/near.lua makes and reads it).
 */
export function waitingMember(callId: string, vehicleClass: string): string {
  return `${vehicleClass}:${callId}`;
}

/** The call id of a waiting calls GEO set member. */
export function waitingCallId(member: string): string {
  return member.slice(member.indexOf(':') + 1);
}

/** BullMQ queue names (BullMQ itself adds the prefix). */
export const QUEUE = { dispatch: 'dispatch' } as const;
