-- schedule_hold.lua records a tick whose task is about to be revoked for a
-- copy (deferred on its last attempt): the revoke frees the tick's task ID,
-- so the tick must stay recorded where a replica reaching it late looks.
--
-- KEYS[1]: the schedule's last-tick key (jobrunner:schedule:{NAME}:last).
-- KEYS[2]: the schedule's held ticks (jobrunner:schedule:{NAME}:held), a
--          sorted set of ticks scored by the tick in Unix seconds.
-- ARGV[1]: the tick, in Unix seconds.
-- ARGV[2]: the last-tick key's TTL in milliseconds.
-- ARGV[3]: held ticks before this (Unix seconds; the tick less twice the
--          longest a replica reaches a tick late) are dropped.
-- ARGV[4]: the held set's TTL in milliseconds.
--
-- The last-tick key only moves forward (forward, from tick_forward.lua).
-- The held set is bounded by ARGV[3] and expires with ARGV[4].
forward(KEYS[1], ARGV[1], ARGV[2])
local tick = tonumber(ARGV[1])
redis.call('ZADD', KEYS[2], tick, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
