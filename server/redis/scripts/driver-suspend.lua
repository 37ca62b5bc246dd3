--[[
  An admin suspends a driver, for a time or until lifted: it leaves the free set now (offline), or,
  on a trip, when the trip ends (freeDriver sees the suspension); driver:online is refused while it
  counts. Its live offers end in a follow-up (end-driver-offers.lua, as after going offline). The
  lever is recorded in the ledger stream in the same step.

  KEYS[1] driver hash   KEYS[2] free drivers GEO set   KEYS[3] driver's offer index   KEYS[4] ledger stream
  KEYS[5] online drivers index (it leaves it when it goes offline here; on a trip, its score moves)
  ARGV[1] driver id   ARGV[2] now (epoch ms)   ARGV[3] now (ISO-8601)   ARGV[4] until (epoch ms, '' until lifted)
  ARGV[5] until (ISO-8601, '' until lifted)   ARGV[6] reason   ARGV[7] admin id
  Returns (JSON) { held = {callId...} (the calls its index names: their offers to it end in the
  follow-up), onTrip = 1 when it is on a trip (it finishes it) }.
  Guarantee: a suspended driver is never put in the free set while the suspension counts.
]]
--- @include "admin"
--- @include "reply"
local driverId, now = ARGV[1], tonumber(ARGV[2])
redis.call('HSET', KEYS[1], 'suspended', '1', 'suspendedUntil', ARGV[4], 'suspendReason', ARGV[6])
local status = redis.call('HGET', KEYS[1], 'status')
local onTrip = 0
if status == 'busy' then
  onTrip = 1
  redis.call('ZADD', KEYS[5], 'XX', now, driverId)
elseif status then
  redis.call('HSET', KEYS[1], 'status', 'offline', 'updatedAt', now)
  redis.call('ZREM', KEYS[5], driverId)
end
redis.call('ZREM', KEYS[2], driverId)
local details = { onTrip = onTrip == 1 }
if ARGV[5] ~= '' then details['until'] = ARGV[5] else details['until'] = cjson.null end
recordAdmin(KEYS[4], ARGV[7], 'driver.suspend', 'driver', driverId, ARGV[6], ARGV[3], details)
return reply({ held = redis.call('HKEYS', KEYS[3]), onTrip = onTrip })
