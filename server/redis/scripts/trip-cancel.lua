--[[
  The assigned driver backs out: the call goes back to `offered` and dispatch starts again,
  never offering it to this driver again.

  KEYS[1] call hash   KEYS[2] call's offers hash   KEYS[3] free drivers GEO set   KEYS[4] ledger stream
  KEYS[5] call timers ZSET: a timer due now, so the call is matched again even if the caller dies
          before it queues the re-match
  KEYS[6] the driver's hash (the caller)
  KEYS[7] online drivers index (ZSET): the freed driver's score moves on, or it leaves the index
          when it was to go offline after its trip
  ARGV[1] driver id  ARGV[2] now (epoch ms)  ARGV[3] now (ISO-8601)
  Returns (JSON) { call, gen, freed }: gen is the call's new assignment generation (the next
  matching sets a new deadline for it), freed is 1 when the driver is back in the free set; or
  { fail = FAIL.NO_CALL | NOT_YOURS (not this driver's trip) | CANCELLED | BAD_STATE }.
]]
--- @include "call"
--- @include "release"
--- @include "reply"
local driverId = ARGV[1]
local now, nowIso = tonumber(ARGV[2]), ARGV[3]
local call = loadCall(KEYS[1])
if not call then return fail(FAIL.NO_CALL) end
if call.driverId ~= driverId then return fail(FAIL.NOT_YOURS) end
if call.status == 'cancelled' then return fail(FAIL.CANCELLED) end
if (call.status ~= 'dispatched' and call.status ~= 'arrived') or not canMove(call.status, 'offered') then return fail(FAIL.BAD_STATE) end

local json, freed, gen = releaseTrip(
  { call = KEYS[1], offers = KEYS[2], free = KEYS[3], ledger = KEYS[4], timers = KEYS[5], driver = KEYS[6], online = KEYS[7] },
  call, driverId, now, nowIso)
return reply({ call = json, gen = gen, freed = freed })
