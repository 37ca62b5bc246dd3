--[[
  Offer states in a call's offers hash (driver → state): an expiry time (ms) while live, else a
  word. Drivers' offer indexes (driver → the offers it holds) are other keys, and lazy: an entry
  stays after its offer ends, until its driver's next accept, going offline or reconnecting handles
  it; every reader checks the call's offers hash for liveness.
]]
local function offerLive(state, nowMs)
  local expires = tonumber(state)
  return expires ~= nil and expires > nowMs
end

-- End every offer of a call still marked by its expiry (marking it `state`). Returns the drivers
-- whose offers were live (to be told).
local function endOffers(offersKey, state, nowMs, exceptDriver)
  local ended = {}
  local offers = redis.call('HGETALL', offersKey)
  for i = 1, #offers, 2 do
    local driverId = offers[i]
    if driverId ~= exceptDriver and tonumber(offers[i + 1]) ~= nil then
      redis.call('HSET', offersKey, driverId, state)
      if offerLive(offers[i + 1], nowMs) then ended[#ended + 1] = driverId end
    end
  end
  return ended
end
