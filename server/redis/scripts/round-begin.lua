--[[
  A region's matching round begins (server/dispatch/round.ts): it takes the region's lease with a
  new fencing token, and the oldest calls of the region's ready set. Rounds of one region never
  overlap: BullMQ has no per-group concurrency, so a dispatcher may run two round jobs of a region
  at once, and only the lease holder's commit (round-commit.lua, fenced by the token) writes.

  KEYS[1] the region's lease   KEYS[2] the region's fence counter   KEYS[3] the region's ready set
  KEYS[4] the scheduled regions ZSET
  ARGV[1] now (epoch ms)   ARGV[2] lease (ms): a round not committed by then is presumed dead
  ARGV[3] most calls to take   ARGV[4] the region   ARGV[5] ms before the sweep runs a scheduled
          region nobody ran
  Returns (JSON) { token, calls = {callId...} } (oldest first); { busy = 1 } another round holds
  the region (its commit triggers the next round); { empty = 1 } no call is ready: the region is no
  longer scheduled (the next call that is ready schedules it again).
]]
--- @include "reply"
local now = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then return reply({ busy = 1 }) end
local calls = redis.call('ZRANGE', KEYS[3], 0, tonumber(ARGV[3]) - 1)
if #calls == 0 then
  redis.call('ZREM', KEYS[4], ARGV[4])
  return reply({ empty = 1 })
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', tonumber(ARGV[2]))
-- Should this round die, the sweep runs the region again after the lease.
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[5]), ARGV[4])
return reply({ token = token, calls = calls })
