--[[
  The assigned driver moves its trip on: arrived, in_progress, completed.

  KEYS[1] call hash   KEYS[2] free drivers GEO set   KEYS[3] waiting calls GEO set   KEYS[4] ledger stream
  KEYS[5] the driver's hash (the caller)
  KEYS[6] online drivers index (ZSET): completing frees the driver (its score moves on), or takes
          it offline (offlineAfterTrip: it leaves the index)
  KEYS[7] open calls index (ZSET): completing removes the call (lib/call.lua record)
  KEYS[8] (completing only) the passenger's active-call key: the caller read the call's passenger
          (it never changes), so the pointer is released in this step
  ARGV[1] driver id  ARGV[2] target status  ARGV[3] now (epoch ms)  ARGV[4] now (ISO-8601)
  ARGV[5] match radius (m)  ARGV[6] most waiting calls to re-match near the freed driver
  Returns (JSON) { call, freed (1 when completing put the driver back in the free set), near =
  {callId...} (calls waiting near the freed driver: match them again now) }, or
  { fail = FAIL.NO_CALL | NOT_YOURS (not this driver's trip) | CANCELLED | BAD_STATE (out of order) }.
]]
--- @include "call"
--- @include "drivers"
--- @include "near"
--- @include "reply"
local driverId, to = ARGV[1], ARGV[2]
local now, nowIso = tonumber(ARGV[3]), ARGV[4]
local NEXT = { arrived = 'dispatched', in_progress = 'arrived', completed = 'in_progress' }

local call = loadCall(KEYS[1])
if not call then return fail(FAIL.NO_CALL) end
if call.driverId ~= driverId then return fail(FAIL.NOT_YOURS) end
if call.status == 'cancelled' then return fail(FAIL.CANCELLED) end
if NEXT[to] ~= call.status or not canMove(call.status, to) then return fail(FAIL.BAD_STATE) end

local json = record(KEYS[1], KEYS[4], call, to, nowIso, KEYS[7])
local freed, near = 0, {}
if to == 'completed' then
  freed = freeDriver(KEYS[5], KEYS[2], KEYS[6], driverId, now)
  closeCall(KEYS[3], call)
  if KEYS[8] and redis.call('GET', KEYS[8]) == call.id then redis.call('DEL', KEYS[8]) end
  if freed == 1 then near = waitingNearDrivers(KEYS[2], KEYS[3], ARGV[5], ARGV[6], {driverId}) end
end
return reply({ call = json, freed = freed, near = near })
