--[[
  A call goes back to `offered` without its driver: the driver backed out (trip-cancel.lua) or an
  admin took the call from it (redispatch.lua). The driver is freed and never offered this call
  again, the call gets a new assignment generation (the next matching sets a new deadline) and a
  timer due now, so it is matched again even if the caller dies before it queues the re-match.
  Every key is the caller's (in its KEYS). Returns the call's JSON, 1 when the driver is back in
  the free set, and the new generation.
]]
--- @include "call"
--- @include "drivers"
--- @include "timers"
local function releaseTrip(k, call, driverId, now, nowIso)
  call.driverId = cjson.null
  call.driverProfile = nil
  call.pickupEstimate = nil
  local json = record(k.call, k.ledger, call, 'offered', nowIso)
  redis.call('HSET', k.offers, driverId, 'backedout')
  local freed = freeDriver(k.driver, k.free, k.online, driverId, now)
  local gen = redis.call('HINCRBY', k.call, 'gen', 1)
  redis.call('HDEL', k.call, 'deadline')
  redis.call('ZADD', k.timers, now, currentTimer(k.call, call.id))
  return json, freed, gen
end
