--[[
  Calls waiting for a driver near drivers who just became free (to match them again at once).

  KEYS[1] free drivers GEO set   KEYS[2] waiting calls GEO set
  ARGV[1] match radius (m)   ARGV[2] most calls per driver   ARGV[3..] driver ids
  Returns the ids of waiting calls within the radius of any of these drivers (no duplicates).
]]
if redis.call('ZCARD', KEYS[2]) == 0 then return {} end
local seen, out = {}, {}
for i = 3, #ARGV do
  local pos = redis.call('GEOPOS', KEYS[1], ARGV[i])[1]
  if pos then
    local near = redis.call('GEOSEARCH', KEYS[2], 'FROMLONLAT', pos[1], pos[2], 'BYRADIUS', ARGV[1], 'm',
      'ASC', 'COUNT', ARGV[2])
    for _, callId in ipairs(near) do
      if not seen[callId] then
        seen[callId] = true
        out[#out + 1] = callId
      end
    end
  end
end
return out
