--[[
  A passenger (its own call) or an admin cancels a call that has not started its trip.

  KEYS[1] call hash   KEYS[2] call's offers hash   KEYS[3] free drivers GEO set
  KEYS[4] waiting calls GEO set   KEYS[5] ledger stream   KEYS[6] call timers ZSET (its timer goes)
  KEYS[7] the passenger's active-call key (the caller read the call's passenger just before)
  KEYS[8] online drivers index (ZSET): the freed driver's score moves on (or it leaves, offlineAfterTrip)
  KEYS[9] open calls index (ZSET): the call leaves it (lib/call.lua record)
  KEYS[10] the hash of the driver the caller read as assigned (absent when none)
  ARGV[1] user id  ARGV[2] role  ARGV[3] reason ('' for none)  ARGV[4] now (epoch ms)
  ARGV[5] now (ISO-8601)  ARGV[6] the driver id the caller read as assigned ('' for none)
  ARGV[7] the passenger id the caller read
  Returns (JSON) { call, revoked = {driverId...} (to be told), driverId (the freed driver, or ''),
  freed (1 if back in the free set) },
  { retry = 1 } when the assigned driver or the passenger is not the one read (the caller reads
  again and retries),
  or { fail = FAIL.NO_CALL | NOT_YOURS | BAD_STATE (not cancellable now) }.
  An admin's cancel is also recorded as an operator lever (admin_actions) in the same step.
  Guarantee: offers end, the assigned driver is freed in the same step (its hash is declared: the
  caller read who it is, and this step checks it still is), and later accepts get CALL_CANCELLED.
]]
--- @include "call"
--- @include "offers"
--- @include "drivers"
--- @include "timers"
--- @include "admin"
--- @include "reply"
local userId, role, reason = ARGV[1], ARGV[2], ARGV[3]
local now, nowIso = tonumber(ARGV[4]), ARGV[5]
local call = loadCall(KEYS[1])
if not call then return fail(FAIL.NO_CALL) end
if role ~= 'admin' and call.passengerId ~= userId then return fail(FAIL.NOT_YOURS) end
if not canMove(call.status, 'cancelled') then return fail(FAIL.BAD_STATE) end
local driverId = ''
if call.driverId ~= cjson.null and call.driverId ~= nil then driverId = call.driverId end
if driverId ~= ARGV[6] or call.passengerId ~= ARGV[7] then return reply({ retry = 1 }) end

local revoked = endOffers(KEYS[2], 'revoked', now, '')
local freed = 0
if driverId ~= '' then freed = freeDriver(KEYS[10], KEYS[3], KEYS[8], driverId, now) end
if reason ~= '' then call.cancelReason = reason end
local json = record(KEYS[1], KEYS[5], call, 'cancelled', nowIso, KEYS[9])
closeCall(KEYS[4], call)
if redis.call('GET', KEYS[7]) == call.id then redis.call('DEL', KEYS[7]) end
redis.call('ZREM', KEYS[6], currentTimer(KEYS[1], call.id))
if role == 'admin' then
  local details = {}
  if driverId ~= '' then details.driverId = driverId end
  recordAdmin(KEYS[5], userId, 'call.cancel', 'call', call.id, reason, nowIso, details)
end
return reply({ call = json, revoked = revoked, driverId = driverId, freed = freed })
