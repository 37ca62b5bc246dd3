--[[
  A follow-up step: the passenger's active-call pointer is dropped once its call has ended
  `unfulfilled` (offer.lua, the matching step, does not know the passenger's key; a cancel and a
  completion release it in their own step), only while it still points to that call (the passenger
  may have called again since).

  KEYS[1] the passenger's active-call key
  ARGV[1] the call that ended
  Returns (JSON) { released = 1 | 0 }.
  Safe late, twice, or never: request.lua reads the status of the call the pointer names and lets
  a passenger whose pointed call has ended call again (it costs that request one more round trip).
]]
--- @include "reply"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return reply({ released = 0 }) end
redis.call('DEL', KEYS[1])
return reply({ released = 1 })
