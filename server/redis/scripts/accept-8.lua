--[[
  The accept: the first driver to accept a live offer wins the call.

  KEYS[1] call hash   KEYS[2] call's offers hash   KEYS[3] driver hash   KEYS[4] driver's offers hash
  KEYS[5] free drivers GEO set   KEYS[6] waiting calls GEO set   KEYS[7] ledger stream
  KEYS[8] call timers ZSET (the call's timer is dropped: a dispatched call needs none)
  ARGV[1] key prefix  ARGV[2] driver id  ARGV[3] now (epoch ms)  ARGV[4] now (ISO-8601)
  ARGV[5] match radius (m)  ARGV[6] most waiting calls to re-match near each driver who lost the call

  Returns
    {1, callJson, {takenDriverId...}, {busyCallId...}, {nearCallId...}}  won: the call is
        `dispatched` to this driver; `taken` lists the other drivers whose live offers ended, `busy`
        this driver's other offers, `near` the calls waiting near the drivers in `taken` (match them
        again now: those drivers are free for them)
    {2, callJson}  this driver had already won this call (a retried accept)
    {-1} no such call          {-2} another driver won it      {-3} never offered to this driver
    {-4} offer expired/revoked {-5} this driver has a trip     {-6} the call was cancelled
    {-10} this driver is offline
  Checked in that order of precedence: unknown call, never offered, cancelled, already won, busy,
  offer over, offline.
  Guarantee: the checks and the change are one atomic step, so for one call exactly one accept
  ever wins, and a driver never holds two trips, whatever nodes, retries or crashes interleave.
]]
local prefix, driverId = ARGV[1], ARGV[2]
local now, nowIso = tonumber(ARGV[3]), ARGV[4]

local call = loadCall(KEYS[1])
if not call then return {-1} end
if call.driverId == driverId and call.status == 'dispatched' then return {2, redis.call('HGET', KEYS[1], 'json')} end

local offer = redis.call('HGET', KEYS[2], driverId)
if not offer then return {-3} end
if call.status == 'cancelled' then return {-6} end
if not canMove(call.status, 'dispatched') then
  if call.status == 'unfulfilled' then return {-4} end
  return {-2}
end
local driverStatus = redis.call('HGET', KEYS[3], 'status')
if driverStatus == 'busy' then return {-5} end
if not offerLive(offer, now) then return {-4} end
if driverStatus ~= 'available' then return {-10} end

-- Win.
call.driverId = driverId
local json = record(KEYS[1], KEYS[7], call, 'dispatched', nowIso)
redis.call('HSET', KEYS[3], 'status', 'busy', 'callId', call.id, 'updatedAt', now)
redis.call('ZREM', KEYS[5], driverId)
redis.call('ZREM', KEYS[6], call.id)
local taken = endOffers(prefix, KEYS[2], call.id, 'revoked', now, driverId)
redis.call('HSET', KEYS[2], driverId, 'won')

-- End this driver's offers for other calls: it is busy now.
local busy = {}
for _, otherCall in ipairs(redis.call('HKEYS', KEYS[4])) do
  if otherCall ~= call.id then
    local otherOffers = callOffersKey(prefix, otherCall)
    if offerLive(redis.call('HGET', otherOffers, driverId), now) then
      busy[#busy + 1] = otherCall
      redis.call('HSET', otherOffers, driverId, 'busy')
    end
  end
end
redis.call('DEL', KEYS[4])

redis.call('ZREM', KEYS[8], currentTimer(KEYS[1], call.id))

return {1, json, taken, busy, waitingNearDrivers(KEYS[5], KEYS[6], ARGV[5], ARGV[6], taken)}
