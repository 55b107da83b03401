-- KEYS: job hash, errors zset; ARGV: position, the run's token
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local run = redis.call('HGET', KEYS[1], 'run')
if run and ARGV[2] ~= '' and run ~= ARGV[2] then return 'lost' end
redis.call('ZREMRANGEBYSCORE', KEYS[2], ARGV[1], '+inf')
redis.call('HSET', KEYS[1], 'error_count', redis.call('ZCARD', KEYS[2]),
           'done', ARGV[1], 'checkpoint', ARGV[1])
return true
