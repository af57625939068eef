-- mark_skipped.lua notes on asynq's hash of a task that the task completes
-- without running (a duplicate skipped by its dedupe key), for the
-- producer's enqueue --wait.
--
-- KEYS[1]: asynq's task hash (asynq:{QUEUE}:t:ID).
-- ARGV[1]: the field (jobrunner_skipped).
-- ARGV[2]: the reason (duplicate_done).
--
-- Only an existing hash is written, so that a task deleted meanwhile does
-- not leave a stray key without a TTL. Returns 1 if written, else 0.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
