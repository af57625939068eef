-- limit_inspect.lua reads a dependency limit's state for a status page,
-- on Redis server time, writing nothing.
--
-- KEYS[1]: the slot set (see slot_take.lua): members token[:holder],
--          scores the leases' ends in milliseconds.
-- KEYS[2]: the waiters list (see slot_take.lua).
-- KEYS[3]: the rate limit's window of starts (see rate_take.lua).
-- KEYS[4]: the rate limit's state hash {q, pause} (see rate_take.lua).
-- ARGV[1]: the rate's window in milliseconds; 0 when there is no rate.
-- ARGV[2]: the most holders to return.
--
-- Returns {slots held, {member, ms left, ...} the soonest end first,
-- waiters, starts in the window, ms until the queue of refused starts
-- ends, ms until a pause ends}; the last two are 0 when none.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local live = '(' .. string.format('%d', now)
local held = redis.call('ZCOUNT', KEYS[1], live, '+inf')
local raw = redis.call('ZRANGEBYSCORE', KEYS[1], live, '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local holders = {}
for i = 1, #raw, 2 do
  holders[#holders + 1] = raw[i]
  holders[#holders + 1] = math.floor(tonumber(raw[i + 1]) - now)
end
local window = tonumber(ARGV[1])
local starts = 0
if window > 0 then
  starts = redis.call('ZCOUNT', KEYS[3], '(' .. string.format('%d', now - window), '+inf')
end
local st = redis.call('HMGET', KEYS[4], 'q', 'pause')
local q = tonumber(st[1] or 0) or 0
local pause = tonumber(st[2] or 0) or 0
return {held, holders, redis.call('LLEN', KEYS[2]), starts,
  math.floor(math.max(q - now, 0)), math.floor(math.max(pause - now, 0))}
