-- KEYS: job hash, errors zset, errors:over hash; ARGV: position, the run's token. Forgets the
-- errors at or after the position, kept or only counted. (The index keeps their slots: a
-- later error in the same slot is then a candidate for a few tokens too many, which the search
-- checks against the needle anyway.)
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local run = redis.call('HGET', KEYS[1], 'run')
if run and ARGV[2] ~= '' and run ~= ARGV[2] then return 'lost' end
redis.call('ZREMRANGEBYSCORE', KEYS[2], ARGV[1], '+inf')
local position = tonumber(ARGV[1])
local flat = redis.call('HGETALL', KEYS[3])
local forgotten = 0
for j = 1, #flat, 2 do
  if flat[j] ~= 'n' and tonumber(flat[j]) >= position then
    local lo, hi = string.match(flat[j + 1], '(%d+):(%d+)')
    forgotten = forgotten + tonumber(hi) - tonumber(lo) + 1
    redis.call('HDEL', KEYS[3], flat[j])
  end
end
if forgotten > 0 then redis.call('HINCRBY', KEYS[3], 'n', -forgotten) end
local over = tonumber(redis.call('HGET', KEYS[3], 'n') or '0')
redis.call('HSET', KEYS[1], 'error_count', redis.call('ZCARD', KEYS[2]) + over,
           'done', ARGV[1], 'checkpoint', ARGV[1])
return true
