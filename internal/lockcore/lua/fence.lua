-- fence.lua is not a script of its own: it defines nextFence, which the
-- scripts that grant locks (acquire.lua, admit.lua) need, and is put in
-- front of each of them when they are loaded (scripts.go), so that the one
-- rule for fences lives in one place (a Redis script cannot call another).
--
-- nextFence returns the next fencing token of the fence key k: the
-- larger of the last token + 1 and the server's TIME in microseconds, so
-- that a replica promoted after losing the last grants still hands out
-- larger tokens than the dead primary did (see lockstore's doc, Fencing).
-- Two commands: TIME and SET ... GET (Redis >= 6.2); a third only when
-- the last token is not behind the clock. The key lives 24 hours after
-- its last grant (fenceTTL in keys.go; INCRBY keeps the TTL SET gave): an
-- expired key is no risk, since the clock has passed its last token by
-- then unless it was set back by more than a day.
local function nextFence(k)
  local t = redis.call('TIME')
  local now = t[1] .. string.format('%06d', tonumber(t[2]))
  local last = redis.call('SET', k, now, 'PX', 86400000, 'GET')
  if last and tonumber(last) >= tonumber(now) then
    return redis.call('INCRBY', k, tonumber(last) - tonumber(now) + 1)
  end
  return tonumber(now)
end
