-- deferral.lua notes one deferral of a job and returns when the job's run
-- of deferrals began, so that the runner can bound it.
--
-- KEYS[1]: the job's deferral record, a hash {since, n}; one per task
--          origin and retry budget left, so a failed attempt starts a new
--          record and a copy re-enqueued on the last attempt continues
--          its original's.
-- ARGV[1]: now, in milliseconds of the runner's clock.
-- ARGV[2]: the record's TTL in milliseconds (renewed by every deferral).
--
-- Returns {since, n}: the time of the first deferral noted in the record,
-- and the number of deferrals noted, this one included.
redis.call('HSETNX', KEYS[1], 'since', ARGV[1])
local n = redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {tonumber(redis.call('HGET', KEYS[1], 'since')), n}
