"""The small parts of `server.hub.protocol` that stand in for asyncio's queue and event, and the
frame encoding the hub writes to every socket of a group."""

from __future__ import annotations

import asyncio

from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from server.hub.protocol import _Flag, _Inbox, encode_text


def parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("the frame was incomplete")


def test_a_frame_is_one_unmasked_text_frame_whatever_its_size() -> None:
    for text in ["", "Zoë", "x" * 125, "x" * 126, "y" * 70_000]:
        frame = parse(encode_text(text))
        assert (frame.opcode, frame.fin, frame.data.decode()) == (Opcode.TEXT, True, text)


def test_the_inbox_hands_out_in_order_and_wakes_its_reader() -> None:
    async def scenario() -> list[object]:
        inbox = _Inbox()
        assert inbox.empty()
        reader = asyncio.create_task(inbox.get())
        await asyncio.sleep(0)
        inbox.put_nowait(1)
        inbox.put_nowait(2)
        return [await reader, await inbox.get(), inbox.empty()]

    assert asyncio.run(scenario()) == [1, 2, True]


def test_a_cancelled_reader_leaves_nothing_behind() -> None:
    async def scenario() -> tuple[object, int]:
        inbox = _Inbox()
        reader = asyncio.create_task(inbox.get())
        await asyncio.sleep(0)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        inbox.put_nowait("kept")
        return await inbox.get(), len(inbox._waiters)

    assert asyncio.run(scenario()) == ("kept", 0)


def test_the_flag_blocks_while_cleared_and_releases_every_waiter() -> None:
    async def scenario() -> list[bool]:
        flag = _Flag()
        assert flag.is_set() and await flag.wait()
        flag.clear()
        waiters = [asyncio.create_task(flag.wait()) for _ in range(3)]
        await asyncio.sleep(0.01)
        blocked = not any(w.done() for w in waiters)
        flag.set()
        return [blocked, *await asyncio.gather(*waiters)]

    assert asyncio.run(scenario()) == [True, True, True, True]
