--[[
  A call's timer is due (server/dispatch/timers.ts): its wave's offers are over, or its deadline has
  come. The wave's offers still live end `expired`; past the deadline the call ends `unfulfilled`;
  otherwise it is ready for its region's next round (lib/ready.lua), in this same step.

  KEYS[1] call hash   KEYS[2] call's offers hash   KEYS[3] waiting calls GEO set   KEYS[4] ledger
  KEYS[5] call timers ZSET (member `callId:wave`)   KEYS[6] the region's ready set
  KEYS[7] the scheduled regions ZSET   KEYS[8] open calls index (ZSET): an unfulfilled call leaves it
  ARGV[1] call id   ARGV[2] now (epoch ms)   ARGV[3] now (ISO-8601)
  ARGV[4] the wave the timer was set for: the fencing token (a timer of an older wave does nothing)
  ARGV[5] call timeout (ms): a call with no deadline yet (never matched, or its driver backed out)
          gets now + this
  ARGV[6] the call's region   ARGV[7] ms before the sweep runs a scheduled region nobody ran
  ARGV[8] '1' in rounds (batched); '0' greedy: the caller matches the call on its own at once

  Returns (JSON), by `outcome`:
    'ready'       { expired }: the call waits in its region's ready set; its timer is now its
                  deadline. The caller queues a round for the region whether it was scheduled or
                  not: a timer that runs may be the first sign that a trigger was lost (a new
                  call's safety timer)
    'unfulfilled' { call, expired }: the deadline passed: the call is `unfulfilled`, its offers ended
    'gone' no such call   'closed' past matching   'stale' a timer of an older wave
  `expired` lists the drivers whose offers this step ended (they are told, and are free for
  other calls).
  Guarantee: the timer is consumed only here, in the step that moves the call on, so an open call
  that has been matched once is never without a timer (a lost run comes due again: dueTimers'
  lease); and a call is never out of every set that gets it matched: it is in its region's ready
  set, or has a live wave (whose timer ends it), or waits for a driver with its deadline timer.
]]
--- @include "call"
--- @include "drivers"
--- @include "timers"
--- @include "ready"
--- @include "reply"
local callId = ARGV[1]
local now, nowIso, fence = tonumber(ARGV[2]), ARGV[3], ARGV[4]
redis.call('ZREM', KEYS[5], callTimer(callId, fence))

local call = loadCall(KEYS[1])
if not call then return reply({ outcome = 'gone' }) end
if call.status ~= 'requested' and call.status ~= 'offered' then
  closeCall(KEYS[3], call)
  return reply({ outcome = 'closed' })
end
local wave = redis.call('HGET', KEYS[1], 'wave')
if tonumber(fence) ~= tonumber(wave) then return reply({ outcome = 'stale' }) end
local deadline = callDeadline(KEYS[1], now, tonumber(ARGV[5]))

-- The wave is over: every offer still marked by its expiry ends.
local expired = {}
local offers = redis.call('HGETALL', KEYS[2])
for i = 1, #offers, 2 do
  if tonumber(offers[i + 1]) ~= nil then
    redis.call('HSET', KEYS[2], offers[i], 'expired')
    expired[#expired + 1] = offers[i]
  end
end

if now >= deadline then
  local json = record(KEYS[1], KEYS[4], call, 'unfulfilled', nowIso, KEYS[8])
  closeCall(KEYS[3], call)
  return reply({ outcome = 'unfulfilled', call = json, expired = expired })
end
redis.call('ZADD', KEYS[5], deadline, callTimer(callId, wave))
local createdMs = tonumber(redis.call('HGET', KEYS[1], 'createdMs')) or now
if ARGV[8] == '1' then readyForRound(KEYS[6], KEYS[7], ARGV[6], callId, createdMs, now, tonumber(ARGV[7])) end
return reply({ outcome = 'ready', expired = expired })
