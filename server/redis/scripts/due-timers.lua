--[[
  The call timers that are due, leased to one sweeper: each is returned once and pushed back by the
  lease, so if its run never consumes it (the job failed for good, the sweeper died before queueing
  it) it comes due again. Only the fenced matching step (offer.lua) removes a timer.

  KEYS[1] call timers ZSET (member `callId:wave`, score due time)
  ARGV[1] now (epoch ms)   ARGV[2] lease (ms)   ARGV[3] most timers to take
  Returns (JSON) { due = {member, dueMs, ...} }: each timer taken with the score it was due at (a
  run's identity).
  Guarantee: of sweepers racing, exactly one takes a due timer until its lease runs out.
]]
--- @include "reply"
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
for i = 1, #due, 2 do
  redis.call('ZADD', KEYS[1], now + lease, due[i])
end
return reply({ due = due })
