--[[
  A passenger (its own call) or an admin cancels a call that has not started its trip.

  KEYS[1] call hash   KEYS[2] call's offers hash   KEYS[3] free drivers GEO set
  KEYS[4] waiting calls GEO set   KEYS[5] ledger stream   KEYS[6] call timers ZSET (its timer goes)
  ARGV[1] key prefix  ARGV[2] user id  ARGV[3] role  ARGV[4] reason ('' for none)
  ARGV[5] now (epoch ms)  ARGV[6] now (ISO-8601)
  Returns {1, callJson, {revokedDriverId...}, freedDriverId or '', freed (1 if back in the free set)}
  {-1} no such call, {-8} not this passenger's call, {-7} not cancellable in its status.
  Guarantee: offers end, the assigned driver is freed, and later accepts get CALL_CANCELLED.
]]
local prefix, userId, role, reason = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now, nowIso = tonumber(ARGV[5]), ARGV[6]
local call = loadCall(KEYS[1])
if not call then return {-1} end
if role ~= 'admin' and call.passengerId ~= userId then return {-8} end
if not canMove(call.status, 'cancelled') then return {-7} end

local revoked = endOffers(prefix, KEYS[2], call.id, 'revoked', now, '')
local driverId, freed = '', 0
if call.driverId ~= cjson.null and call.driverId ~= nil then
  driverId = call.driverId
  freed = freeDriver(prefix, KEYS[3], driverId, now)
end
if reason ~= '' then call.cancelReason = reason end
local json = record(KEYS[1], KEYS[5], call, 'cancelled', nowIso)
closeCall(prefix, KEYS[4], call)
redis.call('ZREM', KEYS[6], currentTimer(KEYS[1], call.id))
return {1, json, revoked, driverId, freed}
