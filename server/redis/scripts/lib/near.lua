--[[
  The one place that finds the open calls waiting near drivers who just became free (to match them
  again at once): of each vehicle class, at most `perDriver` nearest calls within `radius` metres
  of each driver's position in the free set, without duplicates (the driver's class is not known
  here, and a driver of a rare class must still find the calls of its class among many others).
  Nothing waits most of the time: then this costs one ZCARD.
  A waiting call's member in the waiting GEO set is `class:callId` (waitingMember).
]]
local function waitingMember(call) return (call.vehicleClass or '') .. ':' .. call.id end

local function waitingNearDrivers(freeKey, waitingKey, radius, perDriver, driverIds)
  local out = {}
  if #driverIds == 0 or redis.call('ZCARD', waitingKey) == 0 then return out end
  local seen, limit = {}, tonumber(perDriver)
  for _, driverId in ipairs(driverIds) do
    local pos = redis.call('GEOPOS', freeKey, driverId)[1]
    if pos then
      local taken = {}
      for _, member in ipairs(redis.call('GEOSEARCH', waitingKey, 'FROMLONLAT', pos[1], pos[2], 'BYRADIUS', radius, 'm', 'ASC')) do
        local at = string.find(member, ':', 1, true)
        local class, callId = string.sub(member, 1, at - 1), string.sub(member, at + 1)
        taken[class] = (taken[class] or 0) + 1
        if taken[class] <= limit and not seen[callId] then
          seen[callId] = true
          out[#out + 1] = callId
        end
      end
    end
  end
  return out
end
