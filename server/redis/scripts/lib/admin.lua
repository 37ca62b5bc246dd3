--[[
  Operator levers: a driver's suspension, and the ledger entry every lever writes (the second kind
  of entry of the ledger stream: `kind` = 'admin', `action` its JSON; the consumer writes it into
  admin_actions).
]]

-- The suspension that counts now, or nil: { reason, until } (until '' = until lifted). One past its
-- time no longer counts (no timer ends it).
local function suspension(driverKey, nowMs)
  local suspended, untilMs, reason = unpack(redis.call('HMGET', driverKey, 'suspended', 'suspendedUntil', 'suspendReason'))
  if suspended ~= '1' then return nil end
  if untilMs and untilMs ~= '' and tonumber(untilMs) <= nowMs then return nil end
  return { reason = reason or '', untilMs = untilMs or '' }
end

-- Append an operator lever to the ledger stream, in the lever's own step.
local function recordAdmin(stream, adminId, action, targetType, targetId, reason, nowIso, details)
  local entry = cjson.encode({
    adminId = adminId, action = action, targetType = targetType, targetId = targetId, reason = reason, at = nowIso, details = details,
  })
  redis.call('XADD', stream, '*', 'kind', 'admin', 'action', entry)
end
