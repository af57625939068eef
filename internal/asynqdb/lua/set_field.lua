-- set_field.lua sets one of the runner's own fields on asynq's hash of a
-- task: why it completed without running (jobrunner_skipped), or how far
-- its job is (jobrunner_progress), for the producer's enqueue --wait.
--
-- KEYS[1]: asynq's task hash (asynq:{QUEUE}:t:ID).
-- ARGV[1]: the field.
-- ARGV[2]: its value.
--
-- Only an existing hash is written, so that a task deleted meanwhile does
-- not leave a stray key without a TTL: the field lives and dies with the
-- hash. Returns 1 if written, else 0.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
