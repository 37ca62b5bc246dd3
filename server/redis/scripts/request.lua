--[[
  Create a call, atomically and idempotently.

  KEYS[1] request idempotency key (passenger + requestId)   KEYS[4] all calls ZSET
  KEYS[2] passenger's active call key                       KEYS[5] passenger's calls ZSET
  KEYS[3] the new call's hash                               KEYS[6] ledger stream
  KEYS[7] call timers ZSET: a safety timer `callId:0`, in case its match job never succeeds (the
          first matching replaces it; see offer.lua)
  KEYS[8] the region's ready set   KEYS[9] the scheduled regions ZSET (see lib/ready.lua)
  KEYS[10] open calls index (ZSET callId → creation ms): the new call joins it; the step that
          ends it removes it (lib/call.lua record)
  KEYS[11..] the hash of the call KEYS[1] pointed to when the caller read it (if ARGV[10] is not
          ''), then the hash of the call KEYS[2] pointed to (if ARGV[11] is not '')
  ARGV[1] new call id   ARGV[2] passenger id   ARGV[3] requestId   ARGV[4] pickup JSON
  ARGV[5] dropoff JSON  ARGV[6] now (epoch ms)  ARGV[7] now (ISO-8601)
  ARGV[8] idempotency record TTL (ms)   ARGV[9] ms until the safety timer
  ARGV[10] the call id the caller read at KEYS[1] ('' none)
  ARGV[11] the call id the caller read at KEYS[2] ('' none)
  ARGV[12] the call's region   ARGV[13] its vehicle class   ARGV[14] ms before the sweep runs a
          scheduled region nobody ran   ARGV[15] '1' when calls are matched in rounds (batched),
          '0' when each on its own (greedy: its match job, and its safety timer as the backstop)

  Returns (JSON) { created = 1, call, trigger } when created (trigger = 1: queue a round for the
  region; the call is in its ready set either way), { created = 0, call } for a repeated
  requestId, { retry = 1 } when KEYS[1] or KEYS[2] no longer points where the caller read (it reads
  again and retries), { fail = FAIL.ACTIVE_CALL } when the passenger already has a non-terminal call.
  Guarantee: one requestId never makes two calls; a passenger never has two non-terminal calls.
  Both pointers are read again here, in the same step as the write, so a request racing another
  of the same passenger retries with what the winner wrote.
]]
--- @include "call"
--- @include "timers"
--- @include "ready"
--- @include "reply"
local callId, passengerId = ARGV[1], ARGV[2]
local seenExisting, seenActive = ARGV[10], ARGV[11]

local existing = redis.call('GET', KEYS[1]) or ''
local active = redis.call('GET', KEYS[2]) or ''
if existing ~= seenExisting or active ~= seenActive then return reply({ retry = 1 }) end
local k = 11
if existing ~= '' then
  local json = redis.call('HGET', KEYS[k], 'json')
  if json then return reply({ created = 0, call = json }) end
  k = k + 1
end
if active ~= '' then
  local status = redis.call('HGET', KEYS[k], 'status')
  if status and next(TRANSITIONS[status]) ~= nil then return fail(FAIL.ACTIVE_CALL) end
end

local now, nowIso = tonumber(ARGV[6]), ARGV[7]
local call = {
  id = callId, passengerId = passengerId, status = 'requested',
  pickup = cjson.decode(ARGV[4]), dropoff = cjson.decode(ARGV[5]),
  driverId = cjson.null, seq = 0, createdAt = nowIso, updatedAt = nowIso, vehicleClass = ARGV[13],
}
-- wave: offer waves sent so far (the fence of call timers); gen: the assignment generation.
redis.call('HSET', KEYS[3], 'requestId', ARGV[3], 'passengerId', passengerId, 'wave', 0, 'gen', 1, 'region', ARGV[12], 'createdMs', now)
local json = record(KEYS[3], KEYS[6], call, 'requested', nowIso)
redis.call('SET', KEYS[1], callId, 'PX', tonumber(ARGV[8]))
redis.call('SET', KEYS[2], callId)
redis.call('ZADD', KEYS[4], now, callId)
redis.call('ZADD', KEYS[10], now, callId)
redis.call('ZADD', KEYS[5], now, callId)
redis.call('ZADD', KEYS[7], now + tonumber(ARGV[9]), callTimer(callId, 0))
local trigger = 0
if ARGV[15] == '1' then trigger = readyForRound(KEYS[8], KEYS[9], ARGV[12], callId, now, now, tonumber(ARGV[14])) end
return reply({ created = 1, call = json, trigger = trigger })
