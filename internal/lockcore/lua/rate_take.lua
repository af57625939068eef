-- rate_take.lua admits one start under a rate limit: a sliding window of
-- the last starts, timed by Redis server time.
--
-- KEYS[1]: the window: a sorted set of starts, score = start time in
--          milliseconds, member = a unique id.
-- KEYS[2]: the limit's state, a hash: q = the end of the queue of refused
--          starts (ms), pause = no start before this time (ms).
-- ARGV[1]: the number of starts allowed per window (rate + burst - 1).
-- ARGV[2]: the window (the rate's interval) in milliseconds.
-- ARGV[3]: a unique id for this start.
--
-- Returns {1, 0} when the start is admitted (and recorded), or {0, ms}
-- when it is refused: ms is when to come back. Refused starts queue up: each
-- is told the next free moment after the previous one's, a window's worth
-- of starts at a time, so that a backlog drains at the limit instead of
-- coming back all at once.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local pause = tonumber(redis.call('HGET', KEYS[2], 'pause') or 0)
if pause <= now and redis.call('ZCARD', KEYS[1]) < n then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, 0}
end
-- When the oldest start in the window leaves it, a start frees up.
local free = now
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
  free = tonumber(oldest[2]) + window
end
free = math.max(free, pause)
local q = tonumber(redis.call('HGET', KEYS[2], 'q') or 0)
local at = math.max(free, q)
redis.call('HSET', KEYS[2], 'q', at + window / n)
redis.call('PEXPIRE', KEYS[2], math.floor(math.max(at - now, 0) + 2 * window))
return {0, math.floor(at - now)}
