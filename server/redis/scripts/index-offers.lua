--[[
  A follow-up step of a wave: each offer just made goes into its driver's offer index (the offers
  are pushed as the wave goes out, just before this step). offer.lua picks the drivers (from the
  free GEO set), so it cannot declare their keys; this step, one per wave, can.

  KEYS[1] call's offers hash   KEYS[2] call's sent offers hash (driver → the offer JSON, written by
  offer.lua)   KEYS[1 + 2i] driver i's hash   KEYS[2 + 2i] driver i's offer index (i = 1 … n)
  ARGV[1] call id   ARGV[2] now (epoch ms)   ARGV[2 + i] driver i's id
  Returns (JSON) { indexed = {{ driverId, offer }...} }: the offers now in their drivers' indexes
  (what a re-run of a wave pushes again), and { ended = {{ driverId, state }...} }: the offers that
  ended here because their driver is no longer available (it won another call, or went offline,
  since the wave): they end `busy` or `revoked`, the driver is told, and the call is to be matched
  again. An offer already over (won, rejected, expired …) is skipped.
  Guarantee: the accept and driver-offline change a driver's status and read its index in one step,
  and so does this step: whichever runs first, the other sees it, so no live offer is left to a
  driver who is busy or offline. Safe twice (a second run writes the same entries) and late (offer
  states only move one way: absent → expiry → a word, so an ended offer never lives again). If it
  never runs (the process died), the offers stay out of the indexes: a driver who wins another call
  meanwhile keeps a live offer (its accept answers DRIVER_BUSY) until it expires, or until a re-run
  of the wave's job runs this step again (server/dispatch/matcher.ts).
]]
--- @include "offers"
--- @include "reply"
local callId, now = ARGV[1], tonumber(ARGV[2])
local indexed, ended = {}, {}
for i = 1, #ARGV - 2 do
  local driverId = ARGV[2 + i]
  local driverKey, indexKey = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  if offerLive(redis.call('HGET', KEYS[1], driverId), now) then
    local status = redis.call('HGET', driverKey, 'status')
    if status ~= 'available' then
      local state = status == 'busy' and 'busy' or 'revoked'
      redis.call('HSET', KEYS[1], driverId, state)
      ended[#ended + 1] = { driverId = driverId, state = state }
    else
      local offer = redis.call('HGET', KEYS[2], driverId)
      redis.call('HSET', indexKey, callId, offer)
      indexed[#indexed + 1] = { driverId = driverId, offer = offer }
    end
  end
end
return reply({ indexed = indexed, ended = ended })
