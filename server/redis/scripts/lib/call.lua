--[[
  A call hash: load the wire Call, check a move against TRANSITIONS (generated from
  protocol/status.ts by the loader, so no script decides a move the table does not allow), and
  record a change (seq, store, ledger stream, and the open calls index); the deadline a call gets
  at its first matching.

  The open calls index (ZSET callId → creation ms, keys.openCalls): request.lua adds a call when it
  makes it; record() removes it in the step that moves it to a final status (no transition leaves
  it). Only the scripts that can end a call (cancel, wave-end, trip-step) pass the index to
  record(); a final status recorded without it is an error, so no script can end a call and leave
  it listed open. Scripts whose moves are never final (accept, round-commit, trip-cancel) need not
  declare the key at all.
]]
--- @include "transitions"
-- The wire Call stored in a call hash, decoded; nil when the call does not exist.
local function loadCall(key)
  local json = redis.call('HGET', key, 'json')
  if not json then return nil end
  return cjson.decode(json)
end

local function canMove(from, to)
  return TRANSITIONS[from] ~= nil and TRANSITIONS[from][to] == true
end

-- Apply a status change: bump seq, store, append to the ledger stream; a final status leaves the
-- open calls index (`openKey`, required then). Returns the new JSON.
-- Scripts check canMove before writing anything; this check only guards against a bug.
local function record(key, stream, call, status, nowIso, openKey)
  if call.seq > 0 and not canMove(call.status, status) then
    error('illegal transition ' .. call.status .. ' -> ' .. status)
  end
  if next(TRANSITIONS[status]) == nil then
    if not openKey then error('record: the final status ' .. status .. ' needs the open calls index') end
    redis.call('ZREM', openKey, call.id)
  end
  call.status = status
  call.seq = call.seq + 1
  call.updatedAt = nowIso
  local json = cjson.encode(call)
  redis.call('HSET', key, 'json', json, 'status', status)
  redis.call('XADD', stream, '*', 'callId', call.id, 'seq', call.seq, 'status', status, 'call', json,
    'gen', redis.call('HGET', key, 'gen') or '1')
  return json
end

-- The call's deadline (epoch ms: unfulfilled after it). Its first matching (or the first after a
-- driver backed out, which clears it) sets it, now + the call timeout.
local function callDeadline(key, nowMs, timeoutMs)
  local deadline = tonumber(redis.call('HGET', key, 'deadline'))
  if not deadline then
    deadline = nowMs + timeoutMs
    redis.call('HSET', key, 'deadline', deadline)
  end
  return deadline
end
