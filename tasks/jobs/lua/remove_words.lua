-- KEYS: the vocabulary, the reversed one, then the job's word sets; ARGV: job id, its words (in
-- the same order), then the same words reversed. A word no job has any more leaves both.
local n = #KEYS - 2
for i = 1, n do
  redis.call('ZREM', KEYS[i + 2], ARGV[1])
  if redis.call('EXISTS', KEYS[i + 2]) == 0 then
    redis.call('ZREM', KEYS[1], ARGV[i + 1])
    redis.call('ZREM', KEYS[2], ARGV[i + 1 + n])
  end
end
return true
