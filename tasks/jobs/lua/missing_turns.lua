-- KEYS: the line (zset), turns (hash: message id -> job it started), workers:brokers (hash:
-- worker id -> Dramatiq broker id). ARGV: the job hash prefix, Dramatiq's namespace, the jobs
-- queue's name, the latest time a job may have joined the line to count (older ones only: a
-- launch in progress queues its own turn a moment after it joins).
-- Returns how many queued jobs in line have no free turn to take them: a turn is free while it
-- waits in the queue, or is held (prefetched) by a worker without having started a job.
local needed = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])) do
  if redis.call('HGET', ARGV[1] .. id, 'status') == 'queued' then needed = needed + 1 end
end
if needed == 0 then return 0 end
local free = redis.call('LLEN', ARGV[2] .. ':' .. ARGV[3])
for _, broker_id in ipairs(redis.call('HVALS', KEYS[3])) do
  local acks = ARGV[2] .. ':__acks__.' .. broker_id .. '.' .. ARGV[3]
  for _, message_id in ipairs(redis.call('SMEMBERS', acks)) do
    if redis.call('HEXISTS', KEYS[2], message_id) == 0 then free = free + 1 end
  end
end
if needed > free then return needed - free end
return 0
