--[[
  A call is ready for its region's next matching round (server/dispatch/round.ts): into the
  region's ready set (by creation time: older calls go first), and the region scheduled. Returns 1
  when the region was not scheduled (no round queued or running), so the caller queues one; else
  the round queued or running takes the call, or its commit triggers the next round.
  `regionsKey` scores each scheduled region with when the sweep runs it if nobody did (a lost job).
]]
local function readyForRound(readyKey, regionsKey, region, callId, createdMs, nowMs, rescueMs)
  redis.call('ZADD', readyKey, createdMs, callId)
  if redis.call('ZSCORE', regionsKey, region) then return 0 end
  redis.call('ZADD', regionsKey, nowMs + rescueMs, region)
  return 1
end
