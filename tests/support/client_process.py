"""A separate process running ``pushapp.client.Client`` with a ``FilePositionStore``: a program that
stops and starts again. ``python -m tests.support.client_process <url> <token> <positions file> <count>``
prints each item as a JSON line and exits after ``count`` pushes, closing the client (which saves).
The positions file appears once the client is welcomed."""

from __future__ import annotations

import asyncio
import json
import sys

from pushapp.client import Client, FilePositionStore, Push


async def main(url: str, token: str, path: str, count: int) -> None:
    pushes = 0
    async with Client(url, token, store=FilePositionStore(path), ack_interval=0.05) as client:
        async for item in client:
            if isinstance(item, Push):
                pushes += 1
                print(json.dumps({"data": item.data, "offset": item.offset}), flush=True)
            else:
                print(json.dumps({"missed": item.stream, "reason": item.reason}), flush=True)
            if pushes == count:
                break


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
