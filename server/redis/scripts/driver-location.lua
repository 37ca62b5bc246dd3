--[[
  A driver reports its position; while on a trip its rider is told, at most once a second, and the
  ledger keeps a thinned track of the trip.

  KEYS[1] driver hash   KEYS[2] free drivers GEO set
  KEYS[3] online drivers index (ZSET): an online driver's score moves to now (an offline one's
          position is kept, and it stays out of the index)
  KEYS[4] ledger stream (a kind=track entry per kept point)
  ARGV[1] driver id  ARGV[2] lat  ARGV[3] lng  ARGV[4] now (epoch ms)
  ARGV[5] minimum ms between two pushes to the rider
  ARGV[6] now (ISO-8601)  ARGV[7] minimum ms between two track points of a trip (0 = keep no track)
  ARGV[8] most track points of one trip
  Returns (JSON) { tell = 1, callId, passengerId } when the rider should be told now, else
  { tell = 0 }. A free driver also moves in the GEO set. The trip's rider and assignment
  generation are in the driver's hash (the accept writes them with the trip); a busy driver with
  a callId is on that trip (dispatched, arrived or in_progress: every end of a trip frees it).
  The track: the first report of a trip is point 1; then a report at least ARGV[7] ms after the
  last kept point is the next one, up to ARGV[8] points. `trackCall`, `trackGen`, `trackMs` and
  `trackPoints` in the driver's hash are that state; a new trip (another call or generation)
  starts it again. A trip without `tripGen` (accepted by a server older than the track) keeps no
  track, rather than points under a generation it cannot know.
]]
--- @include "geo"
--- @include "reply"
local driverId, now = ARGV[1], tonumber(ARGV[4])
local status, callId, passengerId, lastPush, tripGen, trackCall, trackGen, trackMs, trackPoints = unpack(redis.call('HMGET', KEYS[1],
  'status', 'callId', 'passengerId', 'lastPush', 'tripGen', 'trackCall', 'trackGen', 'trackMs', 'trackPoints'))
if not status then return reply({ tell = 0 }) end
redis.call('HSET', KEYS[1], 'lat', ARGV[2], 'lng', ARGV[3], 'updatedAt', now)
if status == 'available' then redis.call('GEOADD', KEYS[2], ARGV[3], geoLat(ARGV[2]), driverId) end
if status ~= 'offline' then redis.call('ZADD', KEYS[3], now, driverId) end
if status ~= 'busy' or not callId or callId == '' or not passengerId or passengerId == '' then return reply({ tell = 0 }) end
local sampleMs, maxPoints = tonumber(ARGV[7]), tonumber(ARGV[8])
if sampleMs > 0 and maxPoints > 0 and tripGen and tripGen ~= '' then
  local gen = tripGen
  local points, last = tonumber(trackPoints) or 0, tonumber(trackMs)
  if trackCall ~= callId or trackGen ~= gen then points, last = 0, nil end
  if points < maxPoints and (not last or now - last >= sampleMs) then
    points = points + 1
    redis.call('HSET', KEYS[1], 'trackCall', callId, 'trackGen', gen, 'trackMs', now, 'trackPoints', points)
    redis.call('XADD', KEYS[4], '*', 'kind', 'track', 'callId', callId, 'driverId', driverId, 'gen', gen, 'seq', points,
      'lat', ARGV[2], 'lng', ARGV[3], 'at', ARGV[6])
  end
end
if lastPush and now - tonumber(lastPush) < tonumber(ARGV[5]) then return reply({ tell = 0 }) end
redis.call('HSET', KEYS[1], 'lastPush', now)
return reply({ tell = 1, callId = callId, passengerId = passengerId })
