--[[
  An admin lifts a driver's suspension: driver:online is served again (the driver stays offline
  until it goes online). The lever is recorded in the ledger stream in the same step.

  KEYS[1] driver hash   KEYS[2] ledger stream   KEYS[3] online drivers index (a driver lifted on its trip: its score moves)
  ARGV[1] driver id   ARGV[2] now (epoch ms)   ARGV[3] now (ISO-8601)   ARGV[4] reason ('' none)   ARGV[5] admin id
  Returns (JSON) { was = 1 when a suspension counted until now, else 0 }.
]]
--- @include "admin"
--- @include "reply"
local was = 0
if suspension(KEYS[1], tonumber(ARGV[2])) then was = 1 end
redis.call('HDEL', KEYS[1], 'suspended', 'suspendedUntil', 'suspendReason')
redis.call('ZADD', KEYS[3], 'XX', ARGV[2], ARGV[1])
recordAdmin(KEYS[2], ARGV[5], 'driver.lift', 'driver', ARGV[1], ARGV[4], ARGV[3], { wasSuspended = was == 1 })
return reply({ was = was })
