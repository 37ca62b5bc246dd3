--[[
  A follow-up step of a wave: an offer just made goes into its driver's offer index, and only then
  to the driver. offer.lua picks the drivers (from the free GEO set), so it cannot declare their
  keys; this step, one per offered driver, can.

  KEYS[1] driver hash   KEYS[2] driver's offer index   KEYS[3] call's offers hash
  KEYS[4] call's sent offers hash (driver → the offer JSON, written by offer.lua)
  ARGV[1] driver id   ARGV[2] call id   ARGV[3] now (epoch ms)
  Returns (JSON) { outcome = 'indexed', offer }: push it to the driver; { outcome = 'over' }: the
  offer already ended (won, rejected, expired …): nothing to do; { outcome = 'ended' }: the driver
  is no longer available (it won another call, or went offline, since the wave), so the offer ends
  here (`busy` or `revoked`) and the call is to be matched again.
  Guarantee: the accept and driver-offline change a driver's status and read its index in one step,
  and so does this step: whichever runs first, the other sees it, so no live offer is left to a
  driver who is busy or offline. Safe twice (a second run finds the entry, or the offer over) and
  late (offer states only move one way: absent → expiry → a word, so an ended offer never lives
  again). If it never runs (the process died), the driver never sees the offer and the wave ends
  at its timer; a re-run of the wave's job runs it again (server/dispatch/matcher.ts).
]]
--- @include "offers"
--- @include "reply"
local driverId, callId, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
if not offerLive(redis.call('HGET', KEYS[3], driverId), now) then return reply({ outcome = 'over' }) end
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'available' then
  redis.call('HSET', KEYS[3], driverId, status == 'busy' and 'busy' or 'revoked')
  return reply({ outcome = 'ended' })
end
local offer = redis.call('HGET', KEYS[4], driverId)
redis.call('HSET', KEYS[2], callId, offer)
return reply({ outcome = 'indexed', offer = offer })
