--[[
  Calls waiting for a driver near drivers who just became free (to match them again at once).

  KEYS[1] free drivers GEO set   KEYS[2] waiting calls GEO set
  ARGV[1] match radius (m)   ARGV[2] most calls per driver   ARGV[3..] driver ids
  Returns (JSON) { calls = {callId...} }: the waiting calls within the radius of any of these
  drivers (no duplicates).
]]
--- @include "near"
--- @include "reply"
local drivers = {}
for i = 3, #ARGV do drivers[#drivers + 1] = ARGV[i] end
return reply({ calls = waitingNearDrivers(KEYS[1], KEYS[2], ARGV[1], ARGV[2], drivers) })
