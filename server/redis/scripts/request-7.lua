--[[
  Create a call, atomically and idempotently.

  KEYS[1] request idempotency key (passenger + requestId)   KEYS[4] all calls ZSET
  KEYS[2] passenger's active call key                       KEYS[5] passenger's calls ZSET
  KEYS[3] the new call's hash                               KEYS[6] ledger stream
  KEYS[7] call timers ZSET: a safety timer `callId:0`, in case its match job never succeeds (the
          first matching replaces it; see offer-6.lua)
  ARGV[1] key prefix   ARGV[2] new call id   ARGV[3] passenger id   ARGV[4] requestId
  ARGV[5] pickup JSON  ARGV[6] dropoff JSON  ARGV[7] now (epoch ms)  ARGV[8] now (ISO-8601)
  ARGV[9] idempotency record TTL (s)   ARGV[10] ms until the safety timer

  Returns {1, callJson} when created, {0, callJson} for a repeated requestId,
  {-9, activeCallId} when the passenger already has a non-terminal call.
  Guarantee: one requestId never makes two calls; a passenger never has two non-terminal calls.
]]
local prefix, callId, passengerId = ARGV[1], ARGV[2], ARGV[3]

local existing = redis.call('GET', KEYS[1])
if existing then
  local json = redis.call('HGET', callKey(prefix, existing), 'json')
  if json then return {0, json} end
end

local active = redis.call('GET', KEYS[2])
if active then
  local status = redis.call('HGET', callKey(prefix, active), 'status')
  if status and next(TRANSITIONS[status]) ~= nil then return {-9, active} end
end

local now, nowIso = tonumber(ARGV[7]), ARGV[8]
local call = {
  id = callId, passengerId = passengerId, status = 'requested',
  pickup = cjson.decode(ARGV[5]), dropoff = cjson.decode(ARGV[6]),
  driverId = cjson.null, seq = 0, createdAt = nowIso, updatedAt = nowIso,
}
-- wave: offer waves sent so far (the fence of call timers); gen: the assignment generation.
redis.call('HSET', KEYS[3], 'requestId', ARGV[4], 'passengerId', passengerId, 'wave', 0, 'gen', 1)
local json = record(KEYS[3], KEYS[6], call, 'requested', nowIso)
redis.call('SET', KEYS[1], callId, 'EX', tonumber(ARGV[9]))
redis.call('SET', KEYS[2], callId)
redis.call('ZADD', KEYS[4], now, callId)
redis.call('ZADD', KEYS[5], now, callId)
redis.call('ZADD', KEYS[7], now + tonumber(ARGV[10]), callTimer(callId, 0))
return {1, json}
