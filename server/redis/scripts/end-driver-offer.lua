--[[
  A follow-up step: end one driver's offer for one call, if it is still live, and drop it from the
  driver's offer index. Run after an accept (the winner's other offers end `busy`) and after a
  driver goes offline (its offers end `revoked`): those steps know the other calls only at run
  time, so they leave this part to the command layer, which takes the calls from the index.

  KEYS[1] the call's offers hash   KEYS[2] the driver's offer index
  ARGV[1] driver id   ARGV[2] call id   ARGV[3] the state to mark it with   ARGV[4] now (epoch ms)
  Returns (JSON) { ended = 1 } when a live offer ended here, { ended = 0 } otherwise.
  Safe late or twice: it only ends an offer that is still live, offer states only move one way
  (absent → expiry → a word) and a driver is offered a call at most once, so no newer offer can be
  hit; the index entry goes only once handled, so a step that died before this one is repaired by
  running it again (the accept's retry, the grace job's retry). Until it runs, every accept
  re-checks the driver's own state (busy → DRIVER_BUSY, offline → INVALID_STATE), so a live offer
  left over is never won while the driver is busy or offline.
]]
--- @include "offers"
--- @include "reply"
local ended = 0
if offerLive(redis.call('HGET', KEYS[1], ARGV[1]), tonumber(ARGV[4])) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  ended = 1
end
redis.call('HDEL', KEYS[2], ARGV[2])
return reply({ ended = ended })
