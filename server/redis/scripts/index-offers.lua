--[[
  A follow-up step of a wave: each offer just made goes into its driver's offer index, and only
  then to the driver. offer.lua picks the drivers (from the free GEO set), so it cannot declare
  their keys; this step, one per wave, can.

  KEYS[1] call's offers hash   KEYS[2] call's sent offers hash (driver → the offer JSON, written by
  offer.lua)   KEYS[1 + 2i] driver i's hash   KEYS[2 + 2i] driver i's offer index (i = 1 … n)
  ARGV[1] call id   ARGV[2] now (epoch ms)   ARGV[2 + i] driver i's id
  Returns (JSON) { push = {{ driverId, offer }...} } the offers to push now, and { ended = n }: how
  many offers ended here because their driver is no longer available (it won another call, or went
  offline, since the wave): they end `busy` or `revoked`, and the call is to be matched again. An
  offer already over (won, rejected, expired …) is skipped.
  Guarantee: the accept and driver-offline change a driver's status and read its index in one step,
  and so does this step: whichever runs first, the other sees it, so no live offer is left to a
  driver who is busy or offline. Safe twice (a second run writes the same entries and pushes the
  same offers again: clients drop repeats) and late (offer states only move one way: absent →
  expiry → a word, so an ended offer never lives again). If it never runs (the process died), the
  drivers never see the offers and the wave ends at its timer; a re-run of the wave's job runs it
  again (server/dispatch/matcher.ts).
]]
--- @include "offers"
--- @include "reply"
local callId, now = ARGV[1], tonumber(ARGV[2])
local push, ended = {}, 0
for i = 1, #ARGV - 2 do
  local driverId = ARGV[2 + i]
  local driverKey, indexKey = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  if offerLive(redis.call('HGET', KEYS[1], driverId), now) then
    local status = redis.call('HGET', driverKey, 'status')
    if status ~= 'available' then
      redis.call('HSET', KEYS[1], driverId, status == 'busy' and 'busy' or 'revoked')
      ended = ended + 1
    else
      local offer = redis.call('HGET', KEYS[2], driverId)
      redis.call('HSET', indexKey, callId, offer)
      push[#push + 1] = { driverId = driverId, offer = offer }
    end
  end
end
return reply({ push = push, ended = ended })
