--[[
  The assigned driver moves its trip on: arrived, in_progress, completed.

  KEYS[1] call hash   KEYS[2] free drivers GEO set   KEYS[3] waiting calls GEO set   KEYS[4] ledger stream
  ARGV[1] key prefix  ARGV[2] driver id  ARGV[3] target status  ARGV[4] now (epoch ms)  ARGV[5] now (ISO-8601)
  ARGV[6] match radius (m)  ARGV[7] most waiting calls to re-match near the freed driver
  Returns {1, callJson, freed (1 when completing put the driver back in the free set), {callId...}
  (calls waiting near the freed driver: match them again now)},
  {-1} no such call, {-8} not this driver's trip, {-6} cancelled, {-7} out of order.
]]
local prefix, driverId, to = ARGV[1], ARGV[2], ARGV[3]
local now, nowIso = tonumber(ARGV[4]), ARGV[5]
local NEXT = { arrived = 'dispatched', in_progress = 'arrived', completed = 'in_progress' }

local call = loadCall(KEYS[1])
if not call then return {-1} end
if call.driverId ~= driverId then return {-8} end
if call.status == 'cancelled' then return {-6} end
if NEXT[to] ~= call.status or not canMove(call.status, to) then return {-7} end

local json = record(KEYS[1], KEYS[4], call, to, nowIso)
local freed, near = 0, {}
if to == 'completed' then
  freed = freeDriver(prefix, KEYS[2], driverId, now)
  closeCall(prefix, KEYS[3], call)
  if freed == 1 then near = waitingNearDrivers(KEYS[2], KEYS[3], ARGV[6], ARGV[7], {driverId}) end
end
return {1, json, freed, near}
