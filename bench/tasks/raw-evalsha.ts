/**
 * Raw Redis baseline: EVALSHA of a script shaped like accept.lua (its first seven keys; the same HGET /
 * HSET / ZREM / XADD / HGETALL / HKEYS / DEL operations and cjson round trip, three offers per call
 * and two per driver) but with none of its decisions. Each operation gets its own prepared call,
 * so every run takes the full winning path, as the accept that wins does. In `burst` mode a group
 * fires at one prepared call at once, as the racing drivers do.
 */
import { Redis } from 'ioredis';
import type { TaskContext } from '../lib/ipc.js';
import { drive, maxOps, type Mode, type OpSummary } from '../lib/pace.js';

export const ACCEPT_SHAPED_LUA = `
local prefix, driverId, now, nowIso = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local json = redis.call('HGET', KEYS[1], 'json')
if not json then return {-1} end
local call = cjson.decode(json)
local offer = redis.call('HGET', KEYS[2], driverId)
local driverStatus = redis.call('HGET', KEYS[3], 'status')
call.driverId = driverId
call.status = 'dispatched'
call.seq = call.seq + 1
call.updatedAt = nowIso
local out = cjson.encode(call)
redis.call('HSET', KEYS[1], 'json', out, 'status', 'dispatched')
redis.call('XADD', KEYS[7], '*', 'callId', call.id, 'seq', call.seq, 'status', 'dispatched', 'call', out,
  'gen', redis.call('HGET', KEYS[1], 'gen') or '1')
redis.call('HSET', KEYS[3], 'status', 'busy', 'callId', call.id, 'updatedAt', now)
redis.call('ZREM', KEYS[5], driverId)
redis.call('ZREM', KEYS[6], call.id)
local taken = {}
local offers = redis.call('HGETALL', KEYS[2])
for i = 1, #offers, 2 do
  local other = offers[i]
  if other ~= driverId and tonumber(offers[i + 1]) ~= nil then
    redis.call('HSET', KEYS[2], other, 'revoked')
    redis.call('HDEL', prefix .. ':driver:' .. other .. ':offers', call.id)
    taken[#taken + 1] = other
  end
end
redis.call('HSET', KEYS[2], driverId, 'won')
local busy = {}
for _, otherCall in ipairs(redis.call('HKEYS', KEYS[4])) do
  if otherCall ~= call.id then
    local otherOffers = prefix .. ':call:' .. otherCall .. ':offers'
    if tonumber(redis.call('HGET', otherOffers, driverId)) ~= nil then
      busy[#busy + 1] = otherCall
      redis.call('HSET', otherOffers, driverId, 'busy')
    end
  end
end
redis.call('DEL', KEYS[4])
return {1, out, taken, busy, offer or false, driverStatus or false}
`;

export interface EvalshaArgs {
  redisUrl: string;
  prefix: string;
  mode: Mode;
  /** Client connections the operations are spread over. Default 1 (as a gateway has one). */
  connections?: number;
}

type AcceptShaped = (...args: (string | number)[]) => Promise<unknown>;

const CENTER = { lat: 37.5663, lng: 126.9779 };

/** Prepare the keys of `n` calls (one driver, two other offered drivers, one other call each). */
async function prepare(redis: Redis, prefix: string, n: number): Promise<void> {
  const nowMs = Date.now();
  for (let start = 0; start < n; start += 2000) {
    const p = redis.pipeline();
    for (let i = start; i < Math.min(n, start + 2000); i++) {
      const callId = `c${i}`;
      const call = {
        id: callId, passengerId: `p${i}`, status: 'offered', driverId: null, seq: 2,
        pickup: { lat: CENTER.lat + (i % 100) * 1e-4, lng: CENTER.lng }, dropoff: { lat: CENTER.lat, lng: CENTER.lng + 0.01 },
        createdAt: new Date(nowMs).toISOString(), updatedAt: new Date(nowMs).toISOString(),
      };
      const offer = JSON.stringify({ callId, pickup: call.pickup, dropoff: call.dropoff, distanceM: 420, expiresAt: nowMs + 600_000 });
      p.hset(`${prefix}:call:${callId}`, 'json', JSON.stringify(call), 'status', 'offered', 'passengerId', call.passengerId, 'wave', 1, 'gen', 1);
      p.hset(`${prefix}:call:${callId}:offers`, `d${i}`, nowMs + 600_000, `x${i}`, nowMs + 600_000, `y${i}`, nowMs + 600_000);
      p.hset(`${prefix}:driver:d${i}`, 'status', 'available', 'lat', CENTER.lat, 'lng', CENTER.lng);
      p.hset(`${prefix}:driver:d${i}:offers`, callId, offer, `o${i}`, offer);
      p.hset(`${prefix}:call:o${i}:offers`, `d${i}`, nowMs + 600_000);
      p.hset(`${prefix}:driver:x${i}:offers`, callId, offer);
      p.hset(`${prefix}:driver:y${i}:offers`, callId, offer);
      p.geoadd(`${prefix}:drivers:free`, CENTER.lng, CENTER.lat, `d${i}`);
      p.geoadd(`${prefix}:calls:waiting`, CENTER.lng, CENTER.lat, callId);
    }
    await p.exec();
  }
}

function keysOf(prefix: string, i: number): string[] {
  return [
    `${prefix}:call:c${i}`, `${prefix}:call:c${i}:offers`, `${prefix}:driver:d${i}`, `${prefix}:driver:d${i}:offers`,
    `${prefix}:drivers:free`, `${prefix}:calls:waiting`, `${prefix}:ledger`,
  ];
}

export async function rawEvalsha(a: EvalshaArgs, ctx: TaskContext): Promise<OpSummary & { prepared: number }> {
  const conns = Array.from({ length: a.connections ?? 1 }, () => new Redis(a.redisUrl, { maxRetriesPerRequest: 1 }));
  try {
    const fns = conns.map((c) => {
      c.defineCommand('acceptShaped', { numberOfKeys: 7, lua: ACCEPT_SHAPED_LUA });
      return ((c as unknown as Record<string, AcceptShaped>).acceptShaped as AcceptShaped).bind(c);
    });
    // Burst: one prepared call per group and round, hit by the whole group. Else one per operation.
    const burst = a.mode.kind === 'burst' ? a.mode : undefined;
    const prepared = burst ? burst.groups * burst.rounds : maxOps(a.mode, 8000);
    await prepare(conns[0] as Redis, a.prefix, prepared);
    const summary = await drive(a.mode, async (slot, seq) => {
      const i = burst ? Math.floor(slot / burst.size) * burst.rounds + seq : seq;
      const fn = fns[slot % fns.length] as AcceptShaped;
      const t0 = performance.now();
      const nowMs = Date.now();
      await fn(...keysOf(a.prefix, i), a.prefix, `d${i}`, nowMs, new Date(nowMs).toISOString());
      return performance.now() - t0;
    }, ctx.signal, prepared);
    return { ...summary, prepared };
  } finally {
    for (const c of conns) c.disconnect();
  }
}
