"""The hub's one Redis subscription per web process: job events and sign-outs.

`listen()` holds it for as long as the hub runs, and reconnects with backoff (0.1 s doubling
to 5 s) when Redis goes away; each time it is subscribed again it calls `resubscribed()`,
since events may have been missed meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

log = logging.getLogger(__name__)


async def listen(
    client: aioredis.Redis,
    events_channel: str,
    signouts_channel: str,
    on_event: Callable[[bytes], None],
    on_signout: Callable[[str], Awaitable[None]],
    resubscribed: Callable[[], Awaitable[None]],
) -> None:
    signouts = signouts_channel.encode()
    delay = 0.1
    while True:
        try:
            async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(events_channel, signouts_channel)
                delay = 0.1
                await resubscribed()
                async for message in pubsub.listen():
                    if message["channel"] == signouts:
                        await on_signout(message["data"].decode())
                    else:
                        on_event(message["data"])
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("hub subscription lost; retrying in %.1fs", delay, exc_info=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
