--[[
  Match a call again soon: its wave ended early (its last live offer was turned down, or ended
  because its driver took another call), a driver became free near it while it waited, or its
  driver backed out. Unless a wave is live (its end, or the accept, moves the call on), the call is
  ready for its region's next round (lib/ready.lua). The call's timer stays as it is: it is the
  backstop if this step never runs.

  KEYS[1] call hash   KEYS[2] call's offers hash   KEYS[3] the region's ready set
  KEYS[4] the scheduled regions ZSET
  ARGV[1] call id   ARGV[2] now (epoch ms)   ARGV[3] the call's region
  ARGV[4] ms before the sweep runs a scheduled region nobody ran
  Returns (JSON) { outcome = 'ready', trigger } (trigger = 1: queue a round for the region),
  { outcome = 'live' } a wave is live, { outcome = 'closed' } past matching or gone.
]]
--- @include "offers"
--- @include "ready"
--- @include "reply"
local now = tonumber(ARGV[2])
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'requested' and status ~= 'offered' then return reply({ outcome = 'closed' }) end
for _, state in ipairs(redis.call('HVALS', KEYS[2])) do
  if offerLive(state, now) then return reply({ outcome = 'live' }) end
end
local createdMs = tonumber(redis.call('HGET', KEYS[1], 'createdMs')) or now
return reply({ outcome = 'ready', trigger = readyForRound(KEYS[3], KEYS[4], ARGV[3], ARGV[1], createdMs, now, tonumber(ARGV[4])) })
