"""Taking over a dead worker's Dramatiq messages at once, instead of when Dramatiq would.

Dramatiq's Redis broker gives a dead worker's unacked messages (the jobs it ran and the ones it
had prefetched) back to their queues only after its heartbeat timeout (60 s) *and* when a
random maintenance run happens (1,000 commands in a million). jobdeck's beacon knows sooner:
each worker process records its Dramatiq broker id beside its beat (`workers:brokers`, a hash
of worker id -> broker id), and `rescue_dead_workers` moves the messages of every worker whose
beat is older than `dead_after_s` back to the head of their queues, in one Lua script that does
what Dramatiq's own maintenance does, and takes the dead broker out of Dramatiq's heartbeats so
that its maintenance finds nothing left to redeliver a second time. A worker that was only
paused and comes back beats again (and re-registers); the job claim (`JobStore.claim_run`)
keeps its stale copies from running a job twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from tasks.jobs.store import JobStore

DEAD_AFTER_BEATS = 3

# KEYS: workers zset, workers:brokers hash. ARGV: the oldest beat of a live worker, Dramatiq's
# namespace, then the queue names. Returns worker id, broker id, messages moved, for each.
RESCUE = """
local rescued = {}
local brokers = redis.call('HGETALL', KEYS[2])
local namespace = ARGV[2]
for i = 1, #brokers, 2 do
  local worker, broker_id = brokers[i], brokers[i + 1]
  local beat = redis.call('ZSCORE', KEYS[1], worker)
  if not beat or tonumber(beat) < tonumber(ARGV[1]) then
    local moved = 0
    for q = 3, #ARGV do
      local queue = namespace .. ':' .. ARGV[q]
      local acks = namespace .. ':__acks__.' .. broker_id .. '.' .. ARGV[q]
      for _, message_id in ipairs(redis.call('SMEMBERS', acks)) do
        if redis.call('HEXISTS', queue .. '.msgs', message_id) == 1 then
          redis.call('LPUSH', queue, message_id)
          moved = moved + 1
        end
      end
      redis.call('DEL', acks)
    end
    redis.call('ZREM', namespace .. ':__heartbeats__', broker_id)
    redis.call('HDEL', KEYS[2], worker)
    table.insert(rescued, worker)
    table.insert(rescued, broker_id)
    table.insert(rescued, moved)
  end
end
return rescued
"""


def dead_after_s(heartbeat_interval_s: float) -> float:
    """How old a worker's last beat may be before it is taken for dead: a few missed beats."""
    return max(DEAD_AFTER_BEATS * heartbeat_interval_s, 5.0)


def rescue_dead_workers(
    store: JobStore, namespace: str, queues: Iterable[str], at: float, dead_after: float
) -> list[tuple[str, str, int]]:
    """Give the messages of every worker dead at `at` back to their queues (head first: they
    were taken before anything still waiting); returns (worker, broker id, messages moved)."""
    script = store.redis.register_script(RESCUE)
    keys = [store.key("workers"), store.key("workers", "brokers")]
    flat = cast(list[str | int], script(keys=keys, args=[at - dead_after, namespace, *queues]))
    return [(str(flat[i]), str(flat[i + 1]), int(flat[i + 2])) for i in range(0, len(flat), 3)]
