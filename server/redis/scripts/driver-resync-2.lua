--[[
  What a (re)connecting driver must be told: its current trip and its live offers.

  KEYS[1] driver hash   KEYS[2] driver's offers hash
  ARGV[1] key prefix   ARGV[2] driver id   ARGV[3] now (epoch ms)
  Returns {tripCallJson or '', {offerJson...}}; offers no longer live are dropped from KEYS[2].
]]
local prefix, driverId, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local trip = ''
local callId = redis.call('HGET', KEYS[1], 'callId')
if callId and callId ~= '' then
  trip = redis.call('HGET', callKey(prefix, callId), 'json') or ''
end
local live = {}
local offers = redis.call('HGETALL', KEYS[2])
for i = 1, #offers, 2 do
  local state = redis.call('HGET', callOffersKey(prefix, offers[i]), driverId)
  if offerLive(state, now) then
    live[#live + 1] = offers[i + 1]
  else
    redis.call('HDEL', KEYS[2], offers[i])
  end
end
return {trip, live}
