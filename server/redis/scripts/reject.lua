--[[
  A driver turns an offer down.

  KEYS[1] call hash   KEYS[2] call's offers hash   KEYS[3] driver's offers hash
  ARGV[1] driver id   ARGV[2] now (epoch ms)
  Returns (JSON) { live = liveOffersLeft } (0 means the wave is over: the caller starts the next one
  at once), or { fail = FAIL.NO_CALL | NOT_OFFERED | CANCELLED | TAKEN | OFFER_OVER }.
]]
--- @include "call"
--- @include "offers"
--- @include "reply"
local driverId, now = ARGV[1], tonumber(ARGV[2])
local call = loadCall(KEYS[1])
if not call then return fail(FAIL.NO_CALL) end
local offer = redis.call('HGET', KEYS[2], driverId)
if not offer then return fail(FAIL.NOT_OFFERED) end
if call.status == 'cancelled' then return fail(FAIL.CANCELLED) end
if call.status ~= 'requested' and call.status ~= 'offered' then return fail(FAIL.TAKEN) end
if not offerLive(offer, now) then return fail(FAIL.OFFER_OVER) end

redis.call('HSET', KEYS[2], driverId, 'rejected')
redis.call('HDEL', KEYS[3], call.id)
local live = 0
local offers = redis.call('HVALS', KEYS[2])
for _, state in ipairs(offers) do
  if offerLive(state, now) then live = live + 1 end
end
return reply({ live = live })
