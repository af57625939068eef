-- rate_pause.lua holds a rate limit's starts back until a time the
-- dependency asked for (a 429's or 503's Retry-After).
--
-- KEYS[1]: the limit's state hash (see rate_take.lua).
-- ARGV[1]: the pause in milliseconds from now.
-- ARGV[2]: the window in milliseconds (to keep the state that long after).
--
-- Returns the pause's end in milliseconds of server time.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'pause') or 0)
if until_ > cur then
  redis.call('HSET', KEYS[1], 'pause', until_)
else
  until_ = cur
end
redis.call('PEXPIRE', KEYS[1], until_ - now + 2 * tonumber(ARGV[2]))
return until_
