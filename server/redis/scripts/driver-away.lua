--[[
  A driver's socket closed and no socket of it was left on any node: its grace period starts,
  unless a socket of the driver connected since that was checked.

  KEYS[1] driver hash   KEYS[2] online drivers index (its score moves: it is away now)
  ARGV[1] the driver's connect counter read before checking for sockets   ARGV[2] now (epoch ms)   ARGV[3] driver id
  Returns (JSON) { awaySince } (the grace timer's fencing token), '' when a socket connected since.
]]
--- @include "reply"
if (redis.call('HGET', KEYS[1], 'connects') or '0') ~= ARGV[1] then return reply({ awaySince = '' }) end
redis.call('HSET', KEYS[1], 'awaySince', ARGV[2])
redis.call('ZADD', KEYS[2], 'XX', ARGV[2], ARGV[3])
return reply({ awaySince = ARGV[2] })
