--[[
  The call timeout: a call nobody accepted within CALL_TIMEOUT_MS ends `unfulfilled`.

  KEYS[1] call hash   KEYS[2] call's offers hash   KEYS[3] waiting calls GEO set   KEYS[4] ledger stream
  ARGV[1] key prefix  ARGV[2] timeout generation (fencing token)  ARGV[3] now (epoch ms)  ARGV[4] now (ISO-8601)
  Returns {1, callJson, {revokedDriverId...}}, {-1} no such call, {-11} a timer of an older
  generation (the call was re-opened since), {-7} the call was accepted or ended meanwhile.
]]
local prefix = ARGV[1]
local now, nowIso = tonumber(ARGV[3]), ARGV[4]
local call = loadCall(KEYS[1])
if not call then return {-1} end
if redis.call('HGET', KEYS[1], 'gen') ~= ARGV[2] then return {-11} end
if (call.status ~= 'requested' and call.status ~= 'offered') or not canMove(call.status, 'unfulfilled') then return {-7} end
local revoked = endOffers(prefix, KEYS[2], call.id, 'expired', now, '')
local json = record(KEYS[1], KEYS[4], call, 'unfulfilled', nowIso)
closeCall(prefix, KEYS[3], call)
return {1, json, revoked}
