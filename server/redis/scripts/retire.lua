--[[
  Retention: remove the live keys of a call that ended long enough ago, once the ledger has
  committed its final entry (the ledger consumer adds it to the ended ZSET only then). Reads of it
  fall back to the ledger from here on.

  KEYS[1] the call's hash   KEYS[2] its offers hash   KEYS[3] its sent-offers hash
  KEYS[4] all calls ZSET    KEYS[5] the passenger's calls ZSET   KEYS[6] the passenger's active-call key
  KEYS[7] the call's requestId key   KEYS[8] the ended calls ZSET
  KEYS[9..] the offer index of each driver the caller read in KEYS[2] (ARGV[4..] their ids)
  ARGV[1] call id   ARGV[2] now (epoch ms)   ARGV[3] the retention (ms)   ARGV[4..] driver ids

  Returns (JSON) { outcome = 'removed' | 'gone' | 'open' | 'later' | 'retry' }:
  'later' while its requestId is still remembered (removing the call then would let the same
  requestId make a second call): it is due again when that record expires. 'retry' when the
  drivers offered the call are not those the caller read (it reads again). 'open' for a call not
  ended: it leaves the ended set (a call never leaves a final status, so this is not expected).
  Safe twice: a call already removed is 'gone'.
]]
--- @include "call"
--- @include "reply"
local callId, now, retention = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  redis.call('ZREM', KEYS[8], callId)
  return reply({ outcome = 'gone' })
end
if next(TRANSITIONS[status]) ~= nil then
  redis.call('ZREM', KEYS[8], callId)
  return reply({ outcome = 'open' })
end
if redis.call('GET', KEYS[7]) == callId then
  local ttl = redis.call('PTTL', KEYS[7])
  if ttl < 0 then ttl = 0 end
  redis.call('ZADD', KEYS[8], now + ttl - retention + 1, callId)
  return reply({ outcome = 'later' })
end
local offered = redis.call('HKEYS', KEYS[2])
if #offered ~= #ARGV - 3 then return reply({ outcome = 'retry' }) end
for i = 4, #ARGV do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0 then return reply({ outcome = 'retry' }) end
  redis.call('HDEL', KEYS[9 + i - 4], callId)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[4], callId)
redis.call('ZREM', KEYS[5], callId)
if redis.call('GET', KEYS[6]) == callId then redis.call('DEL', KEYS[6]) end
redis.call('ZREM', KEYS[8], callId)
return reply({ outcome = 'removed' })
