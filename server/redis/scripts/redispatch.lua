--[[
  An admin takes a dispatched (or arrived) call from its driver: as a back-out (trip-cancel.lua),
  the call goes back to `offered`, dispatch starts again and the released driver is never offered
  this call again; the lever is recorded in the ledger stream in the same step.

  KEYS[1] call hash   KEYS[2] call's offers hash   KEYS[3] free drivers GEO set   KEYS[4] ledger stream
  KEYS[5] call timers ZSET (a timer due now, so the call is matched again even if the caller dies)
  KEYS[6] the hash of the driver the caller read as assigned   KEYS[7] online drivers index
  ARGV[1] the driver id the caller read   ARGV[2] now (epoch ms)   ARGV[3] now (ISO-8601)
  ARGV[4] admin id   ARGV[5] reason ('' for none)
  Returns (JSON) { call, gen, freed, driverId }: gen the new assignment generation, freed 1 when the
  driver is back in the free set; { retry = 1 } when the assigned driver is not the one read;
  or { fail = FAIL.NO_CALL | BAD_STATE (not dispatched or arrived, a cancelled call included) }.
]]
--- @include "call"
--- @include "release"
--- @include "admin"
--- @include "reply"
local driverId = ARGV[1]
local now, nowIso = tonumber(ARGV[2]), ARGV[3]
local call = loadCall(KEYS[1])
if not call then return fail(FAIL.NO_CALL) end
if (call.status ~= 'dispatched' and call.status ~= 'arrived') or not canMove(call.status, 'offered') then return fail(FAIL.BAD_STATE) end
if call.driverId ~= driverId then return reply({ retry = 1 }) end

local json, freed, gen = releaseTrip(
  { call = KEYS[1], offers = KEYS[2], free = KEYS[3], ledger = KEYS[4], timers = KEYS[5], driver = KEYS[6], online = KEYS[7] },
  call, driverId, now, nowIso)
recordAdmin(KEYS[4], ARGV[4], 'call.redispatch', 'call', call.id, ARGV[5], nowIso, { driverId = driverId })
return reply({ call = json, gen = gen, freed = freed, driverId = driverId })
