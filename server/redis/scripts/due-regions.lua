--[[
  The scheduled regions whose time has come: a region nobody ran (its round job was lost, failed
  for good, or its dispatcher died mid-round). Each is leased to one sweeper like a call timer
  (due-timers.lua): returned once and pushed back by the lease, so a run that never happens comes
  due again. A round that finds its region empty unschedules it (round-begin.lua).

  KEYS[1] the scheduled regions ZSET   ARGV[1] now (epoch ms)   ARGV[2] lease (ms)   ARGV[3] most to take
  Returns (JSON) { due = {region...} }.
]]
--- @include "reply"
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
for _, region in ipairs(due) do redis.call('ZADD', KEYS[1], now + lease, region) end
return reply({ due = due })
