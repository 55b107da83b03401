-- Which of some jobs one person asked to be told about, in one command. KEYS: each job's
-- notify set. ARGV: the person's id. Returns 1 or 0 per key, in KEYS' order.
local found = {}
for i, key in ipairs(KEYS) do
  found[i] = redis.call('SISMEMBER', key, ARGV[1])
end
return found
