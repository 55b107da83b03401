-- KEYS: job hash, workers zset; ARGV: this worker, the new run's token, the oldest beat that
-- counts as alive. 'ok' once the job is this run's; 'held' while another live worker holds it.
if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'completed' or status == 'failed' or status == 'aborted' then return 'ended' end
local holder = redis.call('HGET', KEYS[1], 'runner')
if holder then
  local beat = redis.call('ZSCORE', KEYS[2], holder)
  if beat and tonumber(beat) >= tonumber(ARGV[3]) then return 'held' end
end
redis.call('HSET', KEYS[1], 'runner', ARGV[1], 'run', ARGV[2])
return 'ok'
