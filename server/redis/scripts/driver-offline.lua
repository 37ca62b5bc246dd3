--[[
  A driver goes offline: out of the free set; its offers end in a follow-up. Also run when a disconnected
  driver's grace period is over.

  KEYS[1] driver hash   KEYS[2] free drivers GEO set   KEYS[3] driver's offer index
  KEYS[4] online drivers index (ZSET): the driver leaves it in this step (asked, or its grace ran out)
  ARGV[1] driver id   ARGV[2] now (epoch ms)
  ARGV[3] '' when the driver asked; for the grace timer, the `awaySince` it was set for (fencing
          token: a driver who reconnected since has cleared it)
  Returns (JSON) { outcome = 'offline', held = {callId...} } (the calls its index names: their
  offers to it end `revoked` in a follow-up, end-driver-offers.lua, which also drops each from the
  index, so a retried step still finds what a dead one left); { outcome = 'came-back' } the
  driver came back (grace timer only); { outcome = 'after-trip' } on a trip: it goes offline when
  the trip ends (grace timer only); { fail = FAIL.DRIVER_BUSY } on a trip (asked).
  Guarantee: an offline driver is never in the free set, so no new wave offers it anything; until
  the follow-up ends its offers, an accept by it answers INVALID_STATE (offline).
]]
--- @include "reply"
local driverId, now, fence = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local status, awaySince = unpack(redis.call('HMGET', KEYS[1], 'status', 'awaySince'))
if fence ~= '' and awaySince ~= fence then return reply({ outcome = 'came-back' }) end
if status == 'busy' then
  if fence == '' then return fail(FAIL.DRIVER_BUSY) end
  redis.call('HSET', KEYS[1], 'offlineAfterTrip', '1')
  return reply({ outcome = 'after-trip' })
end
redis.call('HSET', KEYS[1], 'status', 'offline', 'updatedAt', now)
redis.call('ZREM', KEYS[2], driverId)
redis.call('ZREM', KEYS[4], driverId)
return reply({ outcome = 'offline', held = redis.call('HKEYS', KEYS[3]) })
