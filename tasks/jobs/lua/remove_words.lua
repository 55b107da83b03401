-- KEYS: the vocabulary, the reversed one, then for each of the job's words its word set
-- followed by its trigram sets; ARGV: the job id, then for each word the word, the word
-- reversed, and how many trigram sets follow its word set. A word no job has any more leaves
-- both vocabularies and its trigram sets.
local k, a = 3, 2
while a <= #ARGV do
  local word, reversed, trigrams = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
  redis.call('ZREM', KEYS[k], ARGV[1])
  if redis.call('EXISTS', KEYS[k]) == 0 then
    redis.call('ZREM', KEYS[1], word)
    redis.call('ZREM', KEYS[2], reversed)
    for i = 1, trigrams do
      redis.call('SREM', KEYS[k + i], word)
    end
  end
  k = k + 1 + trigrams
  a = a + 3
end
return true
