--[[
  A driver turns an offer down.

  KEYS[1] call hash   KEYS[2] call's offers hash   KEYS[3] driver's offers hash
  ARGV[1] driver id   ARGV[2] now (epoch ms)
  Returns {1, liveOffersLeft} (0 means the wave is over: the caller starts the next one at once),
  {-1} no such call, {-3} never offered, {-6} cancelled, {-2} already won, {-4} offer already over.
]]
local driverId, now = ARGV[1], tonumber(ARGV[2])
local call = loadCall(KEYS[1])
if not call then return {-1} end
local offer = redis.call('HGET', KEYS[2], driverId)
if not offer then return {-3} end
if call.status == 'cancelled' then return {-6} end
if call.status ~= 'requested' and call.status ~= 'offered' then return {-2} end
if not offerLive(offer, now) then return {-4} end

redis.call('HSET', KEYS[2], driverId, 'rejected')
redis.call('HDEL', KEYS[3], call.id)
local live = 0
local offers = redis.call('HVALS', KEYS[2])
for _, state in ipairs(offers) do
  if offerLive(state, now) then live = live + 1 end
end
return {1, live}
