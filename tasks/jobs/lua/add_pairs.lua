-- KEYS: the vocabulary of pairs, the set of full pairs, then the set of each of the job's
-- pairs. ARGV: the job id, its creation time, the most jobs a pair's set keeps, then the
-- pairs, in KEYS' order (from KEYS[3]). Each pair goes in the vocabulary and the job in its
-- set, unless the pair is full: a set that passes the most is dropped and its pair marked full
-- (no search reads that many jobs through one option; it stays in the vocabulary).
local most = tonumber(ARGV[3])
for i = 3, #KEYS do
  local pair = ARGV[i + 1]
  if redis.call('SISMEMBER', KEYS[2], pair) == 0 then
    redis.call('ZADD', KEYS[1], 0, pair)
    redis.call('ZADD', KEYS[i], ARGV[2], ARGV[1])
    if redis.call('ZCARD', KEYS[i]) > most then
      redis.call('UNLINK', KEYS[i])
      redis.call('SADD', KEYS[2], pair)
    end
  end
end
return true
