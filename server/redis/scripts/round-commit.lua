--[[
  The commit of a matching round (server/dispatch/round.ts): the one step that writes offers, in
  both strategies (a batched round of a region, fenced by its token; a greedy match of one call,
  without one). The plan was made from plain reads, so everything it relies on is checked again
  here, and only what still holds is written.

  KEYS[1] the region's ready set   KEYS[2] the scheduled regions ZSET   KEYS[3] the region's lease
  KEYS[4] the region's fence counter   KEYS[5] call timers ZSET   KEYS[6] waiting calls GEO set
  KEYS[7] ledger stream   KEYS[8] the round's record: the calls it offered, kept an offer timeout,
          so a re-run of its job (its dispatcher died between this step and its pushes) pushes
          them again
  KEYS[9 + 3i], KEYS[10 + 3i], KEYS[11 + 3i] call i's hash, offers hash, sent offers hash (i = 0 … c-1)
  KEYS[9 + 3c + 2j], KEYS[10 + 3c + 2j] driver j's hash and offer index (j = 0 … d-1)
  then the offers hashes of other calls that the drivers' indexes named when the plan was read
  KEYS[#KEYS] (last) the online drivers index: an offered driver's score moves (the ops feed reads it again)
  ARGV[1] now (epoch ms)   ARGV[2] now (ISO-8601)   ARGV[3] the round's fencing token ('' none: a
  greedy match)   ARGV[4] offer timeout (ms)   ARGV[5] call timeout (ms)   ARGV[6] most live offers
  per driver   ARGV[7] the default vehicle class   ARGV[8] the region   ARGV[9] ms before the sweep
  runs a scheduled region nobody ran   ARGV[10] '1' to keep the round's record
  ARGV[11] the plan (JSON): { calls = {{ id, wave, skip, offers = {{ driver (j, 0-based), distanceM }…} }…},
           drivers = {driverId…}, others = { callId = its offers hash's KEYS index } }

  Returns (JSON) { stale = 1 } when a newer round of the region has begun (nothing written), else
  { offered = {{ callId, call, changed, wave, offers = {{ driverId, offer }…} }…}, waiting = {callId…},
    lost = {callId…}, again }:
  offered: a new wave went out (changed = 1: requested → offered); waiting: no driver in range,
  the call waits for one nearby (waiting calls GEO set, its deadline as its timer); lost: every
  driver planned for it was taken meanwhile, or the read found it not ready and now it is (it
  stays ready for the next round); again = 1: calls are still ready and this round held the
  region: the caller queues the next round now.
  Checks, per call: open, still the wave the plan read, no live wave, before its deadline (else it
  leaves the ready set: its timer moves it on). Per offer: the driver is still available, of the
  call's class, never offered this call, and under its cap: its live offers, counted by their
  state in the calls' offers hashes (an index entry this step cannot check, because it was written
  after the plan was read, counts as live until its `expiresAt`), plus the offers made here.
  Index entries found over are dropped on the way (the index is lazy; this keeps it small).
  Guarantee: no interleaving of rounds, greedy matches, accepts, timers or retries ever gives a
  driver more than its cap of live offers, offers a call twice to a driver, or starts a second
  live wave; and each offer is in its driver's index from the moment it exists (the accept, going
  offline and resync see it).
]]
--- @include "call"
--- @include "offers"
--- @include "geo"
--- @include "near"
--- @include "timers"
--- @include "reply"
local now, nowIso, token = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local offerTimeout, callTimeout, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local defaultClass, region = ARGV[7], ARGV[8]
local plan = cjson.decode(ARGV[11])
-- Stale only when a newer round of the region has begun (its fence moved on): a round whose lease
-- merely ran out still commits, since everything is checked again here.
if token ~= '' and (tonumber(redis.call('GET', KEYS[4])) or 0) > tonumber(token) then return reply({ stale = 1 }) end

local nCalls = #plan.calls
local driverBase = 9 + 3 * nCalls
-- The offers hash of call `callId` when it is one of the KEYS (a round call or a declared other).
local offersKeyOf = {}
for i, c in ipairs(plan.calls) do offersKeyOf[c.id] = KEYS[10 + 3 * (i - 1)] end
for callId, k in pairs(plan.others) do offersKeyOf[callId] = KEYS[k] end

-- Live offers of driver j, counted once (dropping the index entries of offers that are over), then
-- kept up to date as offers are made here.
local liveCount = {}
local function live(j)
  if liveCount[j] then return liveCount[j] end
  local n = 0
  local indexKey = KEYS[driverBase + 1 + 2 * j]
  local index = redis.call('HGETALL', indexKey)
  local driverId = plan.drivers[j + 1]
  for i = 1, #index, 2 do
    local key, isLive = offersKeyOf[index[i]], false
    if key then
      isLive = offerLive(redis.call('HGET', key, driverId), now)
    else
      isLive = tonumber(cjson.decode(index[i + 1]).expiresAt) > now
    end
    if isLive then n = n + 1 else redis.call('HDEL', indexKey, index[i]) end
  end
  liveCount[j] = n
  return n
end
-- Whether driver j may take an offer of a call of this class now.
local function canTake(j, class)
  local status, dclass = unpack(redis.call('HMGET', KEYS[driverBase + 2 * j], 'status', 'vehicleClass'))
  if status ~= 'available' or (dclass or defaultClass) ~= class then return false end
  return live(j) < cap
end

local offered, waiting, lost = {}, {}, {}
local expiresAt = now + offerTimeout
for i, c in ipairs(plan.calls) do
  local callKey, offersKey, sentKey = KEYS[9 + 3 * (i - 1)], KEYS[10 + 3 * (i - 1)], KEYS[11 + 3 * (i - 1)]
  local call = loadCall(callKey)
  local wave = tonumber(redis.call('HGET', callKey, 'wave'))
  if not call or (call.status ~= 'requested' and call.status ~= 'offered') then
    redis.call('ZREM', KEYS[1], c.id)
  elseif wave == tonumber(c.wave) then
    local deadline = callDeadline(callKey, now, callTimeout)
    local states = redis.call('HGETALL', offersKey)
    local liveWave = false
    for k = 2, #states, 2 do
      if offerLive(states[k], now) then liveWave = true end
    end
    if liveWave or now >= deadline then
      -- Not ready after all: the live wave's end, or the due timer, moves it on.
      redis.call('ZREM', KEYS[1], c.id)
    elseif c.skip == 1 then
      -- The read found it not ready; now it is: the next round reads it again.
      lost[#lost + 1] = c.id
    elseif #c.offers == 0 then
      redis.call('ZREM', KEYS[1], c.id)
      redis.call('GEOADD', KEYS[6], call.pickup.lng, geoLat(call.pickup.lat), waitingMember(call))
      redis.call('ZADD', KEYS[5], deadline, callTimer(c.id, wave))
      waiting[#waiting + 1] = c.id
    else
      local class = call.vehicleClass or defaultClass
      local made = {}
      for _, o in ipairs(c.offers) do
        local j = tonumber(o[1])
        local driverId = plan.drivers[j + 1]
        if redis.call('HEXISTS', offersKey, driverId) == 0 and canTake(j, class) then
          local offer = cjson.encode({ callId = c.id, pickup = call.pickup, dropoff = call.dropoff,
            distanceM = tonumber(o[2]), expiresAt = expiresAt, vehicleClass = class })
          redis.call('HSET', offersKey, driverId, expiresAt)
          redis.call('HSET', sentKey, driverId, offer)
          redis.call('HSET', KEYS[driverBase + 1 + 2 * j], c.id, offer)
          redis.call('ZADD', KEYS[#KEYS], 'XX', now, driverId)
          liveCount[j] = liveCount[j] + 1
          made[#made + 1] = { driverId = driverId, offer = offer }
        end
      end
      if #made == 0 then
        lost[#lost + 1] = c.id
      else
        -- The earlier waves' offers are over (no wave was live): they end `expired` here, so no
        -- later timer tells their drivers again.
        for k = 1, #states, 2 do
          if tonumber(states[k + 1]) ~= nil then redis.call('HSET', offersKey, states[k], 'expired') end
        end
        redis.call('ZREM', KEYS[1], c.id)
        redis.call('ZREM', KEYS[6], waitingMember(call))
        redis.call('ZREM', KEYS[5], callTimer(c.id, wave))
        wave = redis.call('HINCRBY', callKey, 'wave', 1)
        redis.call('ZADD', KEYS[5], math.min(expiresAt, deadline), callTimer(c.id, wave))
        local changed, json = 0, nil
        if call.status == 'requested' then
          changed, json = 1, record(callKey, KEYS[7], call, 'offered', nowIso)
        else
          json = redis.call('HGET', callKey, 'json')
        end
        offered[#offered + 1] = { callId = c.id, call = json, changed = changed, wave = wave, offers = made }
      end
    end
  end
end

if ARGV[10] == '1' and #offered > 0 then
  -- One job may run several rounds back to back: the record holds the calls of all of them.
  local ids = cjson.decode(redis.call('GET', KEYS[8]) or '[]')
  for _, o in ipairs(offered) do ids[#ids + 1] = o.callId end
  redis.call('SET', KEYS[8], cjson.encode(ids), 'PX', offerTimeout)
end

-- Group commit: calls that became ready while this round ran (or lost their drivers) go into the
-- next one, queued now; with nothing left the region is no longer scheduled.
local again = 0
if token ~= '' then
  if redis.call('GET', KEYS[3]) == token then redis.call('DEL', KEYS[3]) end
  if redis.call('ZCARD', KEYS[1]) > 0 then
    again = 1
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[9]), region)
  else
    redis.call('ZREM', KEYS[2], region)
  end
elseif redis.call('ZCARD', KEYS[1]) == 0 and redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('ZREM', KEYS[2], region)
end
return reply({ offered = offered, waiting = waiting, lost = lost, again = again })
