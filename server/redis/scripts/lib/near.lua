--[[
  The one place that finds the open calls waiting near drivers who just became free (to match them
  again at once): at most `perDriver` nearest calls within `radius` metres of each driver's position
  in the free set, without duplicates. Nothing waits most of the time: then this costs one ZCARD.
]]
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
