-- KEYS: the line (zset), turns (hash: message id -> the job it started), workers (zset of
-- beats), active jobs (zset). ARGV: the message id, this worker, the new run's token, the oldest
-- beat that counts as alive, JOBS_PER_PERSON, the job hash prefix.
-- Returns {'bound', id} (this message had started the job: go on with it), {'took', id} (the
-- next job in line), {'held', id} (its job runs on a live worker) or {'none', ''}.
local prefix = ARGV[6]
local cap = tonumber(ARGV[5])
local function claim(id)
  redis.call('HSET', prefix .. id, 'runner', ARGV[2], 'run', ARGV[3])
  redis.call('HSET', KEYS[2], ARGV[1], id)
end
local holds_thread = {running = true, aborting = true, pausing = true}

-- 1. A message given back after its worker died goes on with the job it had started.
local bound = redis.call('HGET', KEYS[2], ARGV[1])
if bound then
  local status = redis.call('HGET', prefix .. bound, 'status')
  if holds_thread[status] or (status == 'queued' and not redis.call('ZSCORE', KEYS[1], bound)) then
    local holder = redis.call('HGET', prefix .. bound, 'runner')
    if holder then
      local beat = redis.call('ZSCORE', KEYS[3], holder)
      if beat and tonumber(beat) >= tonumber(ARGV[4]) then return {'held', bound} end
    end
    claim(bound)
    return {'bound', bound}
  end
  redis.call('HDEL', KEYS[2], ARGV[1])
end

-- 2. A fresh turn: who holds threads now (and jobs taken by a turn that has not started them).
local running = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  local status, owner = unpack(redis.call('HMGET', prefix .. id, 'status', 'owner_id'))
  if holds_thread[status] then running[owner] = (running[owner] or 0) + 1 end
end
for _, id in ipairs(redis.call('HVALS', KEYS[2])) do
  local status, owner = unpack(redis.call('HMGET', prefix .. id, 'status', 'owner_id'))
  if status == 'queued' and not redis.call('ZSCORE', KEYS[1], id) then
    running[owner] = (running[owner] or 0) + 1
  end
end

-- The line, oldest first: ended or removed jobs leave it; a paused one (resumed a moment from
-- now) stays but waits.
local waiting = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local status, owner, fast = unpack(redis.call('HMGET', prefix .. id, 'status', 'owner_id',
                                                 'fast_tracked_at'))
  if status == 'queued' then
    table.insert(waiting, {id = id, owner = owner, fast = tonumber(fast)})
  elseif status ~= 'paused' then
    redis.call('ZREM', KEYS[1], id)
  end
end
if #waiting == 0 then return {'none', ''} end

-- Fast-tracked jobs first, in the order they were fast-tracked; then fair share: the owner with
-- the fewest jobs running, counted up to JOBS_PER_PERSON (at their share, owners are equal), and
-- the oldest job among equals.
local pick = nil
for _, job in ipairs(waiting) do
  if job.fast and (pick == nil or job.fast < pick.fast) then pick = job end
end
if pick == nil then
  local best = nil
  for _, job in ipairs(waiting) do
    local share = math.min(running[job.owner] or 0, cap)
    if best == nil or share < best then pick, best = job, share end
  end
end
pick = pick or waiting[1]
redis.call('ZREM', KEYS[1], pick.id)
claim(pick.id)
return {'took', pick.id}
