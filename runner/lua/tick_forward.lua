-- tick_forward.lua defines forward, loaded in front of schedule_last.lua
-- and schedule_hold.lua: a schedule's tick key only moves forward.
--
-- forward sets key to tick (Unix seconds) with ttl_ms unless it holds a
-- later tick, renews the TTL either way, and returns the tick the key holds
-- after the call.
local function forward(key, tick, ttl_ms)
  local cur = tonumber(redis.call('GET', key) or '0')
  local t = tonumber(tick)
  if t > cur then
    redis.call('SET', key, tick, 'PX', ttl_ms)
    return t
  end
  redis.call('PEXPIRE', key, ttl_ms)
  return cur
end
