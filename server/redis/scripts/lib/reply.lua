--[[
  Replies: one JSON object with named fields (cjson). A failure is `{ fail = FAIL.X }`, FAIL being
  generated from outcomes.ts (beside the loader), where each is named once and mapped to a code.
  cjson encodes an empty Lua table as `{}`: the decoders in commands.ts (beside the loader) read lists
  with that in mind.
]]
--- @include "fail"
local function reply(t) return cjson.encode(t) end
local function fail(reason) return cjson.encode({ fail = reason }) end
