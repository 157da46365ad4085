"""Shared fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.local.local_stack import LocalStack, local_stack
from bot.local.nats_server import NatsServer, run_nats_server


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``long`` run first. The suite runs in parallel workers (pyproject's
    addopts), each handed one test at a time: started first, a long test runs beside the short
    ones, where started last it would keep one worker busy after all the others are done."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest_asyncio.fixture(scope="session")
async def nats_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[NatsServer]:
    """A real nats-server with JetStream for the whole session; `.url` is nats://127.0.0.1:PORT."""
    store_dir: Path = tmp_path_factory.mktemp("nats")
    async with run_nats_server(store_dir) as server:
        yield server


@pytest_asyncio.fixture
async def stack(tmp_path: Path) -> AsyncIterator[LocalStack]:
    """A fresh nats-server, fake forest and fake Slack per test; start bots with
    ``stack.start_bot()``."""
    async with local_stack(tmp_path) as running:
        yield running
