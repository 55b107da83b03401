-- The fewest jobs some words can hold, in one round trip however many words there are.
-- KEYS: where to store them. ARGV: the prefix of a word's set of jobs, the most jobs wanted,
-- the seconds the result is kept, then the options: each a count of words, then its words.
-- Each option's word sets are counted (a job counted once per word it has, a count given up
-- as soon as it passes the most wanted); the union of the option with the fewest is stored
-- (scored by creation time) and its number returned (1 for the first), or 0 if every option
-- holds more than the most wanted (then nothing is stored).
local prefix, most = ARGV[1], tonumber(ARGV[2])
local best, best_jobs, best_keys = 0, most + 1, nil
local i, option = 4, 0
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local keys, jobs = {}, 0
  option = option + 1
  for j = i + 1, i + n do
    local key = prefix .. ARGV[j]
    jobs = jobs + redis.call('ZCARD', key)
    if jobs >= best_jobs then
      break
    end
    keys[#keys + 1] = key
  end
  if jobs < best_jobs then
    best, best_jobs, best_keys = option, jobs, keys
  end
  i = i + n + 1
end
redis.call('DEL', KEYS[1])
if best > 0 and #best_keys > 0 then
  local n = #best_keys
  best_keys[n + 1], best_keys[n + 2] = 'AGGREGATE', 'MIN'  -- a job's score: its creation time
  redis.call('ZUNIONSTORE', KEYS[1], n, unpack(best_keys))
  redis.call('EXPIRE', KEYS[1], ARGV[3])
end
return best
