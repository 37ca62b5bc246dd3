--[[
  Shared helpers, prepended to every script by the loader (server/redis/scripts.ts), after the
  TRANSITIONS table it generates from protocol/status.ts, so no script decides a move the table
  does not allow. Key patterns here mirror server/redis/keys.ts (checked by test/keys.test.ts).
  Scripts derive per-call and per-driver keys from the prefix they get in ARGV, as BullMQ's scripts
  do, so all keys of one deployment must live on one Redis node (no Redis Cluster slot spreading).
]]
local function callKey(prefix, id) return prefix .. ':call:' .. id end
local function callOffersKey(prefix, id) return prefix .. ':call:' .. id .. ':offers' end
local function driverKey(prefix, id) return prefix .. ':driver:' .. id end
local function driverOffersKey(prefix, id) return prefix .. ':driver:' .. id .. ':offers' end
local function passengerActiveKey(prefix, id) return prefix .. ':passenger:' .. id .. ':active' end
-- A call's timer in the call timers ZSET (server/dispatch/timers.ts parses it back).
local function callTimer(callId, wave) return callId .. ':' .. wave end
-- The timer of the call's current wave.
local function currentTimer(callKey, callId) return callTimer(callId, redis.call('HGET', callKey, 'wave') or '0') end

-- Redis GEO indexes latitudes within ±85.05112878 only (Web Mercator) and fails the whole script
-- beyond; the contract allows ±90, so positions nearer the poles are indexed at the limit.
local GEO_MAX_LAT = 85.05112878
local function geoLat(lat)
  lat = tonumber(lat)
  if lat > GEO_MAX_LAT then return GEO_MAX_LAT end
  if lat < -GEO_MAX_LAT then return -GEO_MAX_LAT end
  return lat
end

-- The wire Call stored in a call hash, decoded; nil when the call does not exist.
local function loadCall(key)
  local json = redis.call('HGET', key, 'json')
  if not json then return nil end
  return cjson.decode(json)
end

local function canMove(from, to)
  return TRANSITIONS[from] ~= nil and TRANSITIONS[from][to] == true
end

-- An offer state is live while it is an expiry time in the future.
local function offerLive(state, nowMs)
  local expires = tonumber(state)
  return expires ~= nil and expires > nowMs
end

-- Apply a status change: bump seq, store, append to the ledger stream. Returns the new JSON.
-- Scripts check canMove before writing anything; this check only guards against a bug.
local function record(key, stream, call, status, nowIso)
  if call.seq > 0 and not canMove(call.status, status) then
    error('illegal transition ' .. call.status .. ' -> ' .. status)
  end
  call.status = status
  call.seq = call.seq + 1
  call.updatedAt = nowIso
  local json = cjson.encode(call)
  redis.call('HSET', key, 'json', json, 'status', status)
  redis.call('XADD', stream, '*', 'callId', call.id, 'seq', call.seq, 'status', status, 'call', json,
    'gen', redis.call('HGET', key, 'gen') or '1')
  return json
end

-- End every live offer of a call (marking it `state`); returns the drivers whose offers ended.
local function endOffers(prefix, offersKey, callId, state, nowMs, exceptDriver)
  local ended = {}
  local offers = redis.call('HGETALL', offersKey)
  for i = 1, #offers, 2 do
    local driverId = offers[i]
    if driverId ~= exceptDriver and tonumber(offers[i + 1]) ~= nil then
      redis.call('HSET', offersKey, driverId, state)
      redis.call('HDEL', driverOffersKey(prefix, driverId), callId)
      if offerLive(offers[i + 1], nowMs) then ended[#ended + 1] = driverId end
    end
  end
  return ended
end

-- A driver's trip is over: free again at its last position, or offline if its grace ran out
-- while it was on the trip. Returns 1 when it is free (in the GEO set) now.
local function freeDriver(prefix, freeKey, driverId, nowMs)
  local key = driverKey(prefix, driverId)
  local lat, lng, offlineAfterTrip = unpack(redis.call('HMGET', key, 'lat', 'lng', 'offlineAfterTrip'))
  if offlineAfterTrip == '1' then
    redis.call('HSET', key, 'status', 'offline', 'callId', '', 'offlineAfterTrip', '', 'updatedAt', nowMs)
    return 0
  end
  redis.call('HSET', key, 'status', 'available', 'callId', '', 'updatedAt', nowMs)
  if lat and lng then redis.call('GEOADD', freeKey, lng, geoLat(lat), driverId) end
  return 1
end

-- The call left the open states: it no longer waits for drivers, and the passenger may call again.
local function closeCall(prefix, waitingKey, call)
  redis.call('ZREM', waitingKey, call.id)
  local activeKey = passengerActiveKey(prefix, call.passengerId)
  if redis.call('GET', activeKey) == call.id then redis.call('DEL', activeKey) end
end

-- Open calls waiting near drivers who just became free (to match them again at once): at most
-- `perDriver` nearest calls within `radius` metres of each driver's position in the free set,
-- without duplicates. Nothing waits most of the time: then this costs one ZCARD.
local function waitingNearDrivers(freeKey, waitingKey, radius, perDriver, driverIds)
  local out = {}
  if #driverIds == 0 or redis.call('ZCARD', waitingKey) == 0 then return out end
  local seen = {}
  for _, driverId in ipairs(driverIds) do
    local pos = redis.call('GEOPOS', freeKey, driverId)[1]
    if pos then
      local near = redis.call('GEOSEARCH', waitingKey, 'FROMLONLAT', pos[1], pos[2], 'BYRADIUS', radius, 'm',
        'ASC', 'COUNT', perDriver)
      for _, callId in ipairs(near) do
        if not seen[callId] then
          seen[callId] = true
          out[#out + 1] = callId
        end
      end
    end
  end
  return out
end
