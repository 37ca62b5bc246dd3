--[[
  The assigned driver backs out: the call goes back to `offered` and dispatch starts again,
  never offering it to this driver again.

  KEYS[1] call hash   KEYS[2] call's offers hash   KEYS[3] free drivers GEO set   KEYS[4] ledger stream
  KEYS[5] call timers ZSET: a timer due now, so the call is matched again even if the caller dies
          before it queues the re-match
  ARGV[1] key prefix  ARGV[2] driver id  ARGV[3] now (epoch ms)  ARGV[4] now (ISO-8601)
  Returns {1, callJson, gen, freed}: gen is the call's new assignment generation (the next
  matching sets a new deadline for it), freed is 1 when the driver is back in the free set;
  {-1} no such call, {-8} not this driver's trip, {-6} cancelled, {-7} not in dispatched/arrived.
]]
local prefix, driverId = ARGV[1], ARGV[2]
local now, nowIso = tonumber(ARGV[3]), ARGV[4]
local call = loadCall(KEYS[1])
if not call then return {-1} end
if call.driverId ~= driverId then return {-8} end
if call.status == 'cancelled' then return {-6} end
if (call.status ~= 'dispatched' and call.status ~= 'arrived') or not canMove(call.status, 'offered') then return {-7} end

call.driverId = cjson.null
local json = record(KEYS[1], KEYS[4], call, 'offered', nowIso)
redis.call('HSET', KEYS[2], driverId, 'backedout')
local freed = freeDriver(prefix, KEYS[3], driverId, now)
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('HDEL', KEYS[1], 'deadline')
redis.call('ZADD', KEYS[5], now, currentTimer(KEYS[1], call.id))
return {1, json, gen, freed}
