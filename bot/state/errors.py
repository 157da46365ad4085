"""The bot's own storage (NATS JetStream) failing: one exception type for every caller.

nats-py raises many kinds (a timeout while reconnecting, "no responders" while JetStream elects a
leader, "insufficient resources" when the store is full); whoever holds a person's request only
needs to know that the state could not be read or written, and says so.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import nats.errors


class StoreUnavailable(Exception):
    """JetStream did not read or write the bot's state; nothing was changed by this call."""

    def __init__(self, operation: str, cause: BaseException) -> None:
        super().__init__(f"{operation}: {type(cause).__name__}: {cause}")
        self.operation = operation


@contextlib.contextmanager
def store_call(operation: str) -> Iterator[None]:
    """Turn nats-py's failures inside the block into StoreUnavailable.

    Callers catch the errors that carry meaning (a missing key, a lost compare-and-swap)
    inside the block, before this sees them.
    """
    try:
        yield
    except (nats.errors.Error, TimeoutError, ConnectionError) as error:
        raise StoreUnavailable(operation, error) from error
