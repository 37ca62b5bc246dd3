--[[ A driver's trip is over, and a call leaves the open states. ]]
--- @include "geo"
--- @include "near"
--- @include "admin"

-- Free again at its last position, or offline if its grace ran out while it was on the trip or an
-- operator suspended it meanwhile (a suspended driver is never made available).
-- `driverKey` is the driver's hash, `onlineKey` the online drivers index (ZSET driverId → ms of its
-- last update), both in the caller's KEYS: the driver leaves the index when it goes offline here,
-- its score moves on when it is free again. Returns 1 when it is free (in the GEO set) now.
local function freeDriver(driverKey, freeKey, onlineKey, driverId, nowMs)
  local lat, lng, offlineAfterTrip = unpack(redis.call('HMGET', driverKey, 'lat', 'lng', 'offlineAfterTrip'))
  if offlineAfterTrip == '1' or suspension(driverKey, nowMs) then
    redis.call('HSET', driverKey, 'status', 'offline', 'callId', '', 'passengerId', '', 'tripGen', '', 'offlineAfterTrip', '', 'updatedAt', nowMs)
    redis.call('ZREM', onlineKey, driverId)
    return 0
  end
  redis.call('HSET', driverKey, 'status', 'available', 'callId', '', 'passengerId', '', 'tripGen', '', 'updatedAt', nowMs, 'freeSince', nowMs)
  redis.call('ZADD', onlineKey, nowMs, driverId)
  if lat and lng then redis.call('GEOADD', freeKey, lng, geoLat(lat), driverId) end
  return 1
end

-- The call left the open states: it no longer waits for drivers. (The passenger's active-call
-- pointer is released afterwards by the command layer, only while it still points to this call.)
local function closeCall(waitingKey, call)
  redis.call('ZREM', waitingKey, waitingMember(call))
end
