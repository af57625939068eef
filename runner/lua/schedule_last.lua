-- schedule_last.lua records the last tick of a schedule that was enqueued,
-- so that a replica starting later knows which ticks were missed.
--
-- KEYS[1]: the schedule's last-tick key (jobrunner:schedule:{NAME}:last).
-- ARGV[1]: the tick just enqueued, in Unix seconds.
-- ARGV[2]: the key's TTL in milliseconds (renewed every time).
--
-- The key only moves forward: a replica that enqueues an older tick late
-- (a catch-up) never moves it back. Returns the tick the key holds after
-- the call, in Unix seconds.
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local tick = tonumber(ARGV[1])
if tick > cur then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return tick
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return cur
