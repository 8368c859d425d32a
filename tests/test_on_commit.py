"""Sends bound to the transaction: ``on_commit=True`` pushes after the commit, never after a rollback."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from pushapp import gateway
from tests.support.communicators import Client, clean_hub, connect

pytestmark = [
    pytest.mark.usefixtures(clean_hub.__name__),
    pytest.mark.django_db(transaction=True, databases="__all__"),
]


class Rollback(Exception):
    pass


def nothing_yet(client: Client, loop: asyncio.AbstractEventLoop) -> bool:
    """From the transaction's thread: whether the client has received nothing so far."""
    return asyncio.run_coroutine_threadsafe(client.nothing_more(), loop).result()


async def test_a_send_on_commit_leaves_after_the_commit_and_never_after_a_rollback() -> None:
    client = await connect(uid=1)
    loop = asyncio.get_running_loop()

    def commit() -> None:
        with transaction.atomic():
            gateway.send_to_uid(1, "committed", on_commit=True)
            gateway.send_to_group("nobody", "x", on_commit=True)
            assert nothing_yet(client, loop)

    def roll_back() -> None:
        with transaction.atomic():
            gateway.send_to_uid(1, "rolled back", on_commit=True)
            raise Rollback

    await sync_to_async(commit)()
    assert await client.receive() == "committed"
    with pytest.raises(Rollback):
        await sync_to_async(roll_back)()
    gateway_marker = "marker"
    await gateway.asend_to_uid(1, gateway_marker)
    assert await client.receive() == gateway_marker  # nothing came before it
    assert await client.nothing_more()


async def test_outside_a_transaction_it_leaves_at_once_and_bad_input_raises_at_the_call() -> None:
    client = await connect(uid=1)
    await sync_to_async(lambda: gateway.send_to_uid(1, "now", on_commit=True))()
    assert await client.receive() == "now"
    with pytest.raises(ValueError):
        await sync_to_async(lambda: gateway.send_to_uid(1, float("nan"), on_commit=True))()


async def test_using_names_the_database_whose_transaction_counts() -> None:
    client = await connect(uid=1)
    loop = asyncio.get_running_loop()

    def other_database() -> None:
        with transaction.atomic(using="other"):
            gateway.send_to_uid(1, "after other commits", on_commit=True, using="other")
            with transaction.atomic():  # the default database commits first: not the one that counts
                pass
            assert nothing_yet(client, loop)

    await sync_to_async(other_database)()
    assert await client.receive() == "after other commits"


async def test_the_async_twins_take_on_commit_too() -> None:
    client = await connect(uid=1)
    await gateway.asend_to_uid(1, "async, no transaction", on_commit=True)
    assert await client.receive() == "async, no transaction"
