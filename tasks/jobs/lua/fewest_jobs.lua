-- The fewest jobs some words can hold, in one round trip however many words there are.
-- KEYS: where to store them. ARGV: the prefix of a word's set of jobs, the most jobs wanted,
-- the seconds the result is kept, the most words an option may have, then the options: each
-- either a count of words then its words, or 'range', a vocabulary and the bounds of a
-- ZRANGEBYLEX over it (the words read here, never sent to the client and back).
-- Each option's word sets are counted (a job counted once per word it has, a count given up
-- as soon as it passes the most wanted; an option of more words than allowed is not looked
-- at); the union of the option with the fewest is stored (scored by creation time) and its
-- number returned (1 for the first), or 0 if every option holds more than the most wanted
-- (then nothing is stored).
local prefix, most, most_words = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4])
local best, best_jobs, best_keys = 0, most + 1, nil
local i, option = 5, 0
while i <= #ARGV do
  local words, first, last
  if ARGV[i] == 'range' then
    words = redis.call('ZRANGEBYLEX', ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
                       'LIMIT', 0, most_words + 1)
    first, last = 1, #words
    i = i + 4
  else
    local n = tonumber(ARGV[i])
    words, first, last = ARGV, i + 1, i + n
    i = i + n + 1
  end
  option = option + 1
  if last - first + 1 <= most_words then
    local keys, jobs = {}, 0
    for j = first, last do
      local key = prefix .. words[j]
      jobs = jobs + redis.call('ZCARD', key)
      if jobs >= best_jobs then
        break
      end
      keys[#keys + 1] = key
    end
    if jobs < best_jobs then
      best, best_jobs, best_keys = option, jobs, keys
    end
  end
end
redis.call('DEL', KEYS[1])
if best > 0 and #best_keys > 0 then
  local n = #best_keys
  best_keys[n + 1], best_keys[n + 2] = 'AGGREGATE', 'MIN'  -- a job's score: its creation time
  redis.call('ZUNIONSTORE', KEYS[1], n, unpack(best_keys))
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return best
