/**
 * The guarantees of matching, read from Redis in one atomic snapshot (one read-only script, so
 * nothing moves between the reads). A test's own script: it builds the product's key names from
 * the prefix (server/redis/keys.ts), which the product's scripts never do.
 */
import type { Redis } from 'ioredis';

const SNAPSHOT = `
local p, now, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out, live, trips = {}, {}, {}
for _, id in ipairs(redis.call('ZRANGE', p .. ':calls', 0, -1)) do
  local ck = p .. ':call:' .. id
  local status, wave, region, json = unpack(redis.call('HMGET', ck, 'status', 'wave', 'region', 'json'))
  local offers = redis.call('HGETALL', ck .. ':offers')
  local liveWave = false
  for i = 1, #offers, 2 do
    local expires = tonumber(offers[i + 1])
    if expires and expires > now then
      liveWave = true
      live[offers[i]] = (live[offers[i]] or 0) + 1
      if redis.call('HEXISTS', p .. ':driver:' .. offers[i] .. ':offers', id) == 0 then
        out[#out + 1] = 'live offer of ' .. id .. ' to ' .. offers[i] .. ' is not in its index'
      end
    end
  end
  if status == 'requested' or status == 'offered' then
    local ready = redis.call('ZSCORE', p .. ':region:' .. region .. ':ready', id)
    local waiting = redis.call('ZSCORE', p .. ':calls:waiting', (cjson.decode(json).vehicleClass or '') .. ':' .. id)
    local timer = redis.call('ZSCORE', p .. ':timers:calls', id .. ':' .. wave)
    if not (liveWave or ready or waiting or timer) then out[#out + 1] = 'call ' .. id .. ' is stranded' end
  elseif status == 'dispatched' or status == 'arrived' or status == 'in_progress' then
    local driver = cjson.decode(json).driverId
    trips[driver] = (trips[driver] or 0) + 1
    if trips[driver] > 1 then out[#out + 1] = 'driver ' .. driver .. ' holds two trips' end
  end
end
for driver, n in pairs(live) do
  if n > cap then out[#out + 1] = 'driver ' .. driver .. ' holds ' .. n .. ' live offers (cap ' .. cap .. ')' end
end
return out
`;

/**
 * What is wrong right now, if anything: a driver over its cap of live offers, a live offer missing
 * from its driver's index, an open call that nothing will move (not ready, not waiting for a
 * driver, no live wave, no timer), a driver with two trips.
 */
export async function matchingViolations(redis: Redis, prefix: string, cap: number): Promise<string[]> {
  return (await redis.eval(SNAPSHOT, 0, prefix, Date.now(), cap)) as string[];
}
