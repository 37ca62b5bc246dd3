--[[
  A driver reports its position; while on a trip its rider is told, at most once a second.

  KEYS[1] driver hash   KEYS[2] free drivers GEO set
  ARGV[1] key prefix  ARGV[2] driver id  ARGV[3] lat  ARGV[4] lng  ARGV[5] now (epoch ms)
  ARGV[6] minimum ms between two pushes to the rider
  Returns {1, callId, passengerId} when the rider should be told now, else {0}.
  A free driver also moves in the GEO set.
]]
local prefix, driverId, now = ARGV[1], ARGV[2], tonumber(ARGV[5])
local status, callId, lastPush = unpack(redis.call('HMGET', KEYS[1], 'status', 'callId', 'lastPush'))
if not status then return {0} end
redis.call('HSET', KEYS[1], 'lat', ARGV[3], 'lng', ARGV[4], 'updatedAt', now)
if status == 'available' then redis.call('GEOADD', KEYS[2], ARGV[4], geoLat(ARGV[3]), driverId) end
if status ~= 'busy' or not callId or callId == '' then return {0} end
if lastPush and now - tonumber(lastPush) < tonumber(ARGV[6]) then return {0} end
redis.call('HSET', KEYS[1], 'lastPush', now)
return {1, callId, redis.call('HGET', callKey(prefix, callId), 'passengerId') or ''}
