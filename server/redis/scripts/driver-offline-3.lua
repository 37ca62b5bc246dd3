--[[
  A driver goes offline: out of the free set, its live offers end. Also run when a disconnected
  driver's grace period is over.

  KEYS[1] driver hash   KEYS[2] free drivers GEO set   KEYS[3] driver's offers hash
  ARGV[1] key prefix  ARGV[2] driver id  ARGV[3] now (epoch ms)
  ARGV[4] '' when the driver asked; for the grace timer, the `awaySince` it was set for (fencing
          token: a driver who reconnected since has cleared it)
  Returns {1, {endedOfferCallId...}}; {0} the driver came back (grace timer only);
  {2} on a trip: it goes offline when the trip ends (grace timer only); {-5} on a trip (asked).
]]
local prefix, driverId, now, fence = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local status, awaySince = unpack(redis.call('HMGET', KEYS[1], 'status', 'awaySince'))
if fence ~= '' and awaySince ~= fence then return {0} end
if status == 'busy' then
  if fence == '' then return {-5} end
  redis.call('HSET', KEYS[1], 'offlineAfterTrip', '1')
  return {2}
end
redis.call('HSET', KEYS[1], 'status', 'offline', 'updatedAt', now)
redis.call('ZREM', KEYS[2], driverId)
local ended = {}
for _, callId in ipairs(redis.call('HKEYS', KEYS[3])) do
  local offersKey = callOffersKey(prefix, callId)
  if offerLive(redis.call('HGET', offersKey, driverId), now) then
    redis.call('HSET', offersKey, driverId, 'revoked')
    ended[#ended + 1] = callId
  end
end
redis.call('DEL', KEYS[3])
return {1, ended}
