--[[ A call's timer in the call timers ZSET (server/dispatch/timers.ts parses it back). ]]
local function callTimer(callId, wave) return callId .. ':' .. wave end
-- The timer of the call's current wave.
local function currentTimer(callKey, callId) return callTimer(callId, redis.call('HGET', callKey, 'wave') or '0') end
