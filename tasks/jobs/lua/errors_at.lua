-- KEYS: errors zset; ARGV: ledger slots (ranks). The member at each slot, false past the end.
local found = {}
for i = 1, #ARGV do
  local member = redis.call('ZRANGE', KEYS[1], ARGV[i], ARGV[i])[1]
  found[i] = member or false
end
return found
