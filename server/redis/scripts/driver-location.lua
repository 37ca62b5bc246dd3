--[[
  A driver reports its position; while on a trip its rider is told, at most once a second.

  KEYS[1] driver hash   KEYS[2] free drivers GEO set
  KEYS[3] online drivers index (ZSET): an online driver's score moves to now (an offline one's
          position is kept, and it stays out of the index)
  ARGV[1] driver id  ARGV[2] lat  ARGV[3] lng  ARGV[4] now (epoch ms)
  ARGV[5] minimum ms between two pushes to the rider
  Returns (JSON) { tell = 1, callId, passengerId } when the rider should be told now, else
  { tell = 0 }. A free driver also moves in the GEO set. The trip's rider is in the driver's hash
  (the accept writes it with the trip).
]]
--- @include "geo"
--- @include "reply"
local driverId, now = ARGV[1], tonumber(ARGV[4])
local status, callId, passengerId, lastPush = unpack(redis.call('HMGET', KEYS[1], 'status', 'callId', 'passengerId', 'lastPush'))
if not status then return reply({ tell = 0 }) end
redis.call('HSET', KEYS[1], 'lat', ARGV[2], 'lng', ARGV[3], 'updatedAt', now)
if status == 'available' then redis.call('GEOADD', KEYS[2], ARGV[3], geoLat(ARGV[2]), driverId) end
if status ~= 'offline' then redis.call('ZADD', KEYS[3], now, driverId) end
if status ~= 'busy' or not callId or callId == '' or not passengerId or passengerId == '' then return reply({ tell = 0 }) end
if lastPush and now - tonumber(lastPush) < tonumber(ARGV[5]) then return reply({ tell = 0 }) end
redis.call('HSET', KEYS[1], 'lastPush', now)
return reply({ tell = 1, callId = callId, passengerId = passengerId })
