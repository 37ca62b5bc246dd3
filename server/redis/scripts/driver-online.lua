--[[
  A driver goes online (free) at a position.

  KEYS[1] driver hash   KEYS[2] free drivers GEO set
  KEYS[3] online drivers index (ZSET driverId → ms of its last update): the driver is in it, busy
          or free, from this step until a step takes it offline
  ARGV[1] driver id   ARGV[2] lat   ARGV[3] lng   ARGV[4] now (epoch ms)
  ARGV[5] its vehicle class   ARGV[6] its public profile JSON ('' none declared)
  Returns (JSON) { status = 'available' }, or { fail = FAIL.DRIVER_BUSY } when the driver is on a
  trip (it stays busy, position updated), or { suspended = { reason, untilMs } } when an operator's
  suspension counts (nothing changed; untilMs '' = until lifted).
  Guarantee: a driver with a trip, or suspended, is never put in the free set.
]]
--- @include "geo"
--- @include "admin"
--- @include "reply"
local suspended = suspension(KEYS[1], tonumber(ARGV[4]))
if suspended then return reply({ suspended = suspended }) end
local status = redis.call('HGET', KEYS[1], 'status')
redis.call('HSET', KEYS[1], 'lat', ARGV[2], 'lng', ARGV[3], 'updatedAt', ARGV[4], 'offlineAfterTrip', '',
  'vehicleClass', ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'profile', ARGV[6]) else redis.call('HDEL', KEYS[1], 'profile') end
if status == 'busy' then return fail(FAIL.DRIVER_BUSY) end
-- freeSince: how long a driver has been idle (ties of a round's assignment go to the longest idle).
if status ~= 'available' then redis.call('HSET', KEYS[1], 'freeSince', ARGV[4]) end
redis.call('HSET', KEYS[1], 'status', 'available')
redis.call('GEOADD', KEYS[2], ARGV[3], geoLat(ARGV[2]), ARGV[1])
return reply({ status = 'available' })
