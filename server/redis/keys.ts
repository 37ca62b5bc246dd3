/**
 * The one place Redis key names are made. Every key starts with KEY_PREFIX, so deployments and
 * tests can share one Redis. Scripts never make a key: the command layer (commands.ts) passes every
 * key a script touches in its KEYS (test/keys.test.ts and the test mode of scripts.ts check it).
 */
export interface Keys {
  prefix: string;
  /** HASH: json (the wire Call), status, passengerId, requestId, wave (offer waves so far: the fence of its timer), gen (assignment generation: moves on when a driver backs out), deadline (epoch ms: unfulfilled after it; set at the first matching, and again after a back-out). */
  call(callId: string): string;
  /** HASH: driverId → offer state (expiry epoch ms while live, else rejected|revoked|won|busy|expired|backedout). */
  callOffers(callId: string): string;
  /** HASH: driverId → the offer JSON as it went to that driver (written with the wave, read by its follow-up). */
  callSent(callId: string): string;
  /**
   * HASH: status (available|busy|offline), lat, lng, callId (current trip), updatedAt, connects (a counter of
   * its socket connections), awaySince
   * (ms of the disconnect its grace runs from, '' while connected), offlineAfterTrip, lastPush.
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
  /** GEO set of open calls (by pickup) with no live wave: they wait for a driver to become free. */
  waitingCalls: string;
  /** ZSET: every call by creation time (admin listing). */
  allCalls: string;
  /** ZSET: the timer of each open call, member `callId:wave`, score when it is due (its wave's end or its deadline); swept by dispatchers. */
  callTimers: string;
  /** STREAM: every state change, consumed into the SQLite ledger. */
  ledger: string;
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
    waitingCalls: `${prefix}:calls:waiting`,
    allCalls: `${prefix}:calls`,
    callTimers: `${prefix}:timers:calls`,
    ledger: `${prefix}:ledger`,
    adapterChannel: `${prefix}:sio`,
    rateLimit: (name) => `${prefix}:rl:${name}`,
  };
}

/** BullMQ queue names (BullMQ itself adds the prefix). */
export const QUEUE = { dispatch: 'dispatch' } as const;
