-- The fewest jobs some words can hold, in one round trip however many words there are.
-- KEYS: where to store them. ARGV: the most jobs wanted, the seconds the result is kept, the most
-- words an option may have, then the options, each the prefix of its words' sets of jobs, then
-- either 'words', a count and the words, or 'range', a vocabulary, the set of its full words
-- ('': none), a count and that many pairs of bounds of a ZRANGEBYLEX over it (the words read
-- here, never sent to the client and back; an option with a full word is not looked at).
-- Each option's word sets are counted (a job counted once per word it has, a count given up
-- as soon as it passes the most wanted; an option of more words than allowed is not looked
-- at). Returns the number of the option with the fewest (1 for the first) and the key that
-- holds its jobs, scored by creation time: its one word's set, or KEYS[1] where the union of
-- its sets is stored; or {0, ''} if every option holds more than the most wanted.
local most, most_words = tonumber(ARGV[1]), tonumber(ARGV[3])
local best, best_jobs, best_keys = 0, most + 1, nil
local i, option = 4, 0
while i <= #ARGV do
  local prefix, words, first, last = ARGV[i], nil, nil, nil
  local is_full = false
  if ARGV[i + 1] == 'range' then
    local vocabulary, full, n = ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
    words = {}
    for r = 0, n - 1 do
      local low, high = ARGV[i + 5 + 2 * r], ARGV[i + 6 + 2 * r]
      for _, word in ipairs(redis.call('ZRANGEBYLEX', vocabulary, low, high,
                                       'LIMIT', 0, most_words + 1 - #words)) do
        words[#words + 1] = word
      end
      if #words > most_words then
        break
      end
    end
    first, last = 1, #words
    if full ~= '' and #words > 0 and #words <= most_words then
      for _, found in ipairs(redis.call('SMISMEMBER', full, unpack(words))) do
        is_full = is_full or found == 1
      end
    end
    i = i + 5 + 2 * n
  else
    local n = tonumber(ARGV[i + 2])
    words, first, last = ARGV, i + 3, i + 2 + n
    i = i + 3 + n
  end
  option = option + 1
  if last - first + 1 <= most_words and not is_full then
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
if best == 0 then
  return {0, ''}
end
if #best_keys == 1 then
  return {best, best_keys[1]}
end
redis.call('UNLINK', KEYS[1])  -- (freed beside: the last search's union may be large)
if #best_keys > 0 then
  local n = #best_keys
  best_keys[n + 1], best_keys[n + 2] = 'AGGREGATE', 'MIN'  -- a job's score: its creation time
  redis.call('ZUNIONSTORE', KEYS[1], n, unpack(best_keys))
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return {best, KEYS[1]}
