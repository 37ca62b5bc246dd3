--[[
  Redis GEO indexes latitudes within ±85.05112878 only (Web Mercator) and fails the whole script
  beyond; the protocol allows ±90, so positions nearer the poles are indexed at the limit.
]]
local GEO_MAX_LAT = 85.05112878
local function geoLat(lat)
  lat = tonumber(lat)
  if lat > GEO_MAX_LAT then return GEO_MAX_LAT end
  if lat < -GEO_MAX_LAT then return -GEO_MAX_LAT end
  return lat
end
