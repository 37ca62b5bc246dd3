--[[
  The accept: the first driver to accept a live offer wins the call.

  KEYS[1] call hash   KEYS[2] call's offers hash   KEYS[3] driver hash   KEYS[4] driver's offer index
  KEYS[5] free drivers GEO set   KEYS[6] waiting calls GEO set   KEYS[7] ledger stream
  KEYS[8] call timers ZSET (the call's timer is dropped: a dispatched call needs none)
  KEYS[9] online drivers index (the winner's score moves: it is busy now; so do the scores of the drivers whose offers ended)
  ARGV[1] driver id  ARGV[2] now (epoch ms)  ARGV[3] now (ISO-8601)
  ARGV[4] match radius (m)  ARGV[5] most waiting calls to re-match near each driver who lost the call
  ARGV[6] the speed of the pickup estimate (km/h)

  Returns (JSON)
    { outcome = 'won', call, wave, taken = {driverId...}, others = {callId...}, near = {callId...} }: the
        call is `dispatched` to this driver; `taken` lists the other drivers whose live offers ended
        (to be told), `others` the other calls this driver's index names (their offers to it end
        `busy` in a follow-up, end-driver-offers.lua, which also drops them from the index), `near`
        the calls waiting near the drivers in `taken` (match them again now: they are free for them);
        `wave` the waves the call needed. The call now carries the driver's public profile (as it
        declared it at driver:online) and the pickup estimate: its offer's straight-line distance
        at ARGV[6]
    { outcome = 'retried', call, others }: this driver had already won this call (a retried accept:
        `others` again, so the retry also redoes a follow-up that died)
    { fail = FAIL.NO_CALL | NOT_OFFERED | CANCELLED | TAKEN | DRIVER_BUSY | OFFER_OVER | DRIVER_OFFLINE }
  Checked in that order of precedence: unknown call, never offered, cancelled, already won, busy,
  offer over, offline.
  Guarantee: the checks and the change are one atomic step on the declared keys (the call, its
  offers, the winning driver), so for one call exactly one accept ever wins, and a driver never
  holds two trips, whatever nodes, retries or crashes interleave. The winner's other offers are
  ended by the follow-up; until it runs, an accept of one of them finds this driver busy
  (DRIVER_BUSY), so it can never win a second call.
]]
--- @include "call"
--- @include "offers"
--- @include "near"
--- @include "timers"
--- @include "reply"
local driverId = ARGV[1]
local now, nowIso = tonumber(ARGV[2]), ARGV[3]

local call = loadCall(KEYS[1])
if not call then return fail(FAIL.NO_CALL) end
-- The other calls this driver's index names (the follow-up ends their offers and drops them).
local function others()
  local out = {}
  for _, otherCall in ipairs(redis.call('HKEYS', KEYS[4])) do
    if otherCall ~= call.id then out[#out + 1] = otherCall end
  end
  return out
end
if call.driverId == driverId and call.status == 'dispatched' then
  return reply({ outcome = 'retried', call = redis.call('HGET', KEYS[1], 'json'), others = others() })
end

local offer = redis.call('HGET', KEYS[2], driverId)
if not offer then return fail(FAIL.NOT_OFFERED) end
if call.status == 'cancelled' then return fail(FAIL.CANCELLED) end
if not canMove(call.status, 'dispatched') then
  if call.status == 'unfulfilled' then return fail(FAIL.OFFER_OVER) end
  return fail(FAIL.TAKEN)
end
local driverStatus = redis.call('HGET', KEYS[3], 'status')
if driverStatus == 'busy' then return fail(FAIL.DRIVER_BUSY) end
if not offerLive(offer, now) then return fail(FAIL.OFFER_OVER) end
if driverStatus ~= 'available' then return fail(FAIL.DRIVER_OFFLINE) end

-- Win.
call.driverId = driverId
local profile = redis.call('HGET', KEYS[3], 'profile')
if profile then call.driverProfile = cjson.decode(profile) end
local sent = redis.call('HGET', KEYS[4], call.id)
if sent then
  local distanceM = tonumber(cjson.decode(sent).distanceM)
  call.pickupEstimate = { distanceM = distanceM, etaS = math.ceil(distanceM / (tonumber(ARGV[6]) / 3.6)),
    method = 'straight-line' }
end
local json = record(KEYS[1], KEYS[7], call, 'dispatched', nowIso)
-- The trip's assignment generation rides with it (driver-location.lua tags the track's points with it).
redis.call('HSET', KEYS[3], 'status', 'busy', 'callId', call.id, 'passengerId', call.passengerId, 'updatedAt', now,
  'tripGen', redis.call('HGET', KEYS[1], 'gen') or '1')
redis.call('ZREM', KEYS[5], driverId)
redis.call('ZREM', KEYS[6], waitingMember(call))
local taken = endOffers(KEYS[2], 'revoked', now, driverId)
redis.call('ZADD', KEYS[9], 'XX', now, driverId)
for _, d in ipairs(taken) do redis.call('ZADD', KEYS[9], 'XX', now, d) end
redis.call('HSET', KEYS[2], driverId, 'won')

redis.call('HDEL', KEYS[4], call.id)

redis.call('ZREM', KEYS[8], currentTimer(KEYS[1], call.id))

return reply({ outcome = 'won', call = json, wave = tonumber(redis.call('HGET', KEYS[1], 'wave')), taken = taken, others = others(),
  near = waitingNearDrivers(KEYS[5], KEYS[6], ARGV[4], ARGV[5], taken) })
