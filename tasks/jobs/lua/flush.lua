-- KEYS: job hash, errors zset, channel, events counter
-- ARGV: n field pairs, the publish time, the run's token, field, value, ..., then score, member
-- pairs for the ledger. Writes nothing and returns 'lost' if the token (when not empty) is no
-- longer the job's run.
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local run = redis.call('HGET', KEYS[1], 'run')
if run and ARGV[3] ~= '' and run ~= ARGV[3] then return 'lost' end
local n = tonumber(ARGV[1])
local i = 4
for _ = 1, n do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('ZADD', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('HSET', KEYS[1], 'error_count', redis.call('ZCARD', KEYS[2]))
redis.call('HINCRBY', KEYS[1], 'seq', 1)
local flat = redis.call('HGETALL', KEYS[1])
local job = {}
for j = 1, #flat, 2 do job[flat[j]] = flat[j + 1] end
job['mail_queued'] = nil
job['runner'] = nil
job['run'] = nil
local event = {v = 1, type = 'job', job = job, at = tonumber(ARGV[2])}
redis.call('PUBLISH', KEYS[3], cjson.encode(event))
redis.call('INCR', KEYS[4])
return job['status']
