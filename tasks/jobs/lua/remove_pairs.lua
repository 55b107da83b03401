-- KEYS: the vocabulary of pairs, then the set of each of the job's pairs. ARGV: the job id,
-- then the pairs, in KEYS' order. A pair no job has any more leaves the vocabulary.
for i = 2, #KEYS do
  redis.call('ZREM', KEYS[i], ARGV[1])
  if redis.call('EXISTS', KEYS[i]) == 0 then
    redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return true
