-- KEYS: job hash, a set beside it; ARGV: member. The set expires with the job, if it does.
-- Returns 0 if the job is gone, 1 if the member was there already, 2 if it is new.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local added = redis.call('SADD', KEYS[2], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1 + added
