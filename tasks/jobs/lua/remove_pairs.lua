-- KEYS: the vocabulary of pairs, the set of full pairs, then the set of each of the job's
-- pairs. ARGV: the job id, then the pairs, in KEYS' order (from KEYS[3]). A pair no job has
-- any more leaves the vocabulary; a full one stays there, and full (its jobs are not known).
for i = 3, #KEYS do
  redis.call('ZREM', KEYS[i], ARGV[1])
  if redis.call('EXISTS', KEYS[i]) == 0 and redis.call('SISMEMBER', KEYS[2], ARGV[i - 1]) == 0 then
    redis.call('ZREM', KEYS[1], ARGV[i - 1])
  end
end
return true
