--[[
  One matching step: end the call's offers that are over, and unless a wave is still live, offer the
  call to the nearest free drivers not offered it before (the next wave). Past the call's deadline
  the step ends the call `unfulfilled` instead.

  KEYS[1] call hash   KEYS[2] call's offers hash   KEYS[3] free drivers GEO set
  KEYS[4] waiting calls GEO set   KEYS[5] ledger stream
  KEYS[6] call timers ZSET: member `callId:wave`, score when the call next needs this step (its
          wave's end or its deadline, whichever is first). Set here in the same step as the wave,
          so no crash can leave an open call without its timer; the sweep of server/dispatch/
          timers.ts runs this step (fenced) when it is due, and only a fenced run removes it.
  KEYS[7] call's sent offers hash: driver → the offer JSON as it goes to that driver
  ARGV[1] the call id (to drop the timer of a call that is gone)  ARGV[2] now (epoch ms)
  ARGV[3] now (ISO-8601)  ARGV[4] offer timeout (ms)  ARGV[5] wave size   ARGV[6] match radius (m)
  ARGV[7] the wave a timer was set for ('' for a first match or a re-match): the fencing token.
          A timer of the current wave ends all its offers; a timer of an older wave does nothing.
  ARGV[8] call timeout (ms): the first matching of the call (or of its generation, after a driver
          backed out) sets its `deadline`, now + this.

  Returns (JSON), by `outcome`:
    'offered'     { call, changed, wave, offers = {{ driverId, offer = offerJson }...}, expired }: a
                  new wave went out (changed = 1 when this step moved the call requested → offered);
                  each offer is built here, once, as the driver gets it
    'waiting'     { wave, expired }: no free driver in range: the call waits in KEYS[4]
    'live'        { wave, liveUntil }: the current wave is still live: nothing changed
    'unfulfilled' { call, expired }: the deadline has passed: the call is `unfulfilled`, its offers
                  ended
    'gone' no such call   'closed' the call is past matching   'stale' a timer of an older wave
  `expired` lists the drivers whose offers this step ended (they are told). Each offered driver's
  index is written, and the offer pushed, by the follow-up index-offers.lua (the drivers are known
  only here).
  Guarantee: only drivers free at this instant get offers (the free GEO set holds exactly the
  drivers whose status is `available`: every script that changes a status moves the driver in or
  out of it in the same step), never one who already held an offer for this call, a call never has
  two live waves, none starts after the call's deadline, and an open call that has been matched
  once always has a timer that ends it by its deadline. If the follow-up never runs (the process
  died), the driver never sees the offer: the wave ends at its timer, and a re-run of the job runs
  the follow-up again.
]]
--- @include "call"
--- @include "offers"
--- @include "drivers"
--- @include "timers"
--- @include "reply"
local callId = ARGV[1]
local now, nowIso = tonumber(ARGV[2]), ARGV[3]
local waveSize, fence = tonumber(ARGV[5]), ARGV[7]
-- A timer that ran is consumed here, whatever it finds.
if fence ~= '' then redis.call('ZREM', KEYS[6], callTimer(callId, fence)) end

local call = loadCall(KEYS[1])
if not call then return reply({ outcome = 'gone' }) end
if call.status ~= 'requested' and call.status ~= 'offered' then
  redis.call('ZREM', KEYS[4], call.id)
  return reply({ outcome = 'closed' })
end
local wave = tonumber(redis.call('HGET', KEYS[1], 'wave'))
if fence ~= '' and tonumber(fence) ~= wave then return reply({ outcome = 'stale' }) end
local timer = callTimer(call.id, wave)
local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline'))
if not deadline then
  deadline = now + tonumber(ARGV[8])
  redis.call('HSET', KEYS[1], 'deadline', deadline)
end

-- Offers past their time (or all, for the current wave's timer) end now; others keep the wave live.
local expired, liveUntil = {}, nil
local offers = redis.call('HGETALL', KEYS[2])
for i = 1, #offers, 2 do
  local driverId, expires = offers[i], tonumber(offers[i + 1])
  if expires ~= nil then
    if fence ~= '' or expires <= now then
      redis.call('HSET', KEYS[2], driverId, 'expired')
      expired[#expired + 1] = driverId
    else
      liveUntil = expires
    end
  end
end
if liveUntil then return reply({ outcome = 'live', wave = wave, liveUntil = liveUntil }) end
if now >= deadline then
  -- Nobody accepted in time (the offers still live were all ended above: this is the timer's run).
  redis.call('ZREM', KEYS[6], timer)
  local json = record(KEYS[1], KEYS[5], call, 'unfulfilled', nowIso)
  closeCall(KEYS[4], call)
  return reply({ outcome = 'unfulfilled', call = json, expired = expired })
end

local expiresAt = now + tonumber(ARGV[4])
-- The nearest free drivers not offered this call before. The search starts at an eighth of the
-- radius and doubles up to it: a GEO search reads every member within its radius, so a busy city
-- costs what its nearest streets hold, not the whole radius. Everything within a smaller radius is
-- nearer than anything beyond it, so the drivers found are the same as one search of the radius.
local want, maxRadius = waveSize + #offers / 2, tonumber(ARGV[6])
local radius, chosen = maxRadius / 8, {}
while true do
  chosen = {}
  local found = redis.call('GEOSEARCH', KEYS[3], 'FROMLONLAT', call.pickup.lng, geoLat(call.pickup.lat),
    'BYRADIUS', radius, 'm', 'ASC', 'COUNT', want, 'WITHDIST')
  for _, hit in ipairs(found) do
    if #chosen >= 2 * waveSize then break end
    local driverId = hit[1]
    if redis.call('HEXISTS', KEYS[2], driverId) == 0 then
      chosen[#chosen + 1] = driverId
      chosen[#chosen + 1] = math.floor(tonumber(hit[2]) + 0.5)
    end
  end
  if #chosen >= 2 * waveSize or radius >= maxRadius then break end
  radius = math.min(radius * 2, maxRadius)
end

local offered = {}
for i = 1, #chosen, 2 do
  local driverId, dist = chosen[i], chosen[i + 1]
  local offer = cjson.encode({ callId = call.id, pickup = call.pickup, dropoff = call.dropoff,
    distanceM = dist, expiresAt = expiresAt })
  redis.call('HSET', KEYS[2], driverId, expiresAt)
  redis.call('HSET', KEYS[7], driverId, offer)
  offered[#offered + 1] = { driverId = driverId, offer = offer }
end

if #offered == 0 then
  -- It waits for a driver to become free nearby; its deadline is its timer.
  redis.call('GEOADD', KEYS[4], call.pickup.lng, geoLat(call.pickup.lat), call.id)
  redis.call('ZADD', KEYS[6], deadline, timer)
  return reply({ outcome = 'waiting', wave = wave, expired = expired })
end
redis.call('ZREM', KEYS[4], call.id)
redis.call('ZREM', KEYS[6], timer)
wave = redis.call('HINCRBY', KEYS[1], 'wave', 1)
redis.call('ZADD', KEYS[6], math.min(expiresAt, deadline), callTimer(call.id, wave))
local changed, json = 0, nil
if call.status == 'requested' then
  changed, json = 1, record(KEYS[1], KEYS[5], call, 'offered', nowIso)
else
  json = redis.call('HGET', KEYS[1], 'json')
end
return reply({ outcome = 'offered', call = json, changed = changed, wave = wave, offers = offered, expired = expired })
