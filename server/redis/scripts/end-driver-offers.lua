--[[
  A follow-up step: end one driver's offers for some calls, where still live, and drop those calls
  from its offer index. Run after an accept (the winner's other offers end `busy`) and after a
  driver goes offline (its offers end `revoked`): those steps know the other calls only at run
  time (from the driver's index), so they leave this part to the command layer.

  KEYS[1] the driver's offer index   KEYS[1 + i] call i's offers hash (i = 1 … n)
  ARGV[1] driver id   ARGV[2] the state to mark them with   ARGV[3] now (epoch ms)
  ARGV[3 + i] call i's id
  Returns (JSON) { ended = {callId...} }: the calls whose live offer ended here.
  Safe late or twice: it only ends an offer that is still live, offer states only move one way
  (absent → expiry → a word) and a driver is offered a call at most once, so no newer offer can be
  hit; the index entries go in the same step as they are handled, so a step that died before this
  one is repaired by running it again (the accept's retry, the grace job's retry). Until it runs,
  every accept re-checks the driver's own state (busy → DRIVER_BUSY, offline → INVALID_STATE), so
  a live offer left over is never won while the driver is busy or offline.
]]
--- @include "offers"
--- @include "reply"
local driverId, state, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local ended = {}
for i = 1, #ARGV - 3 do
  local callId = ARGV[3 + i]
  if offerLive(redis.call('HGET', KEYS[1 + i], driverId), now) then
    redis.call('HSET', KEYS[1 + i], driverId, state)
    ended[#ended + 1] = callId
  end
  redis.call('HDEL', KEYS[1], callId)
end
return reply({ ended = ended })
