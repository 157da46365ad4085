"""Can the app token read ``FOREST_ORGANISATION``? The watch's first read, asked by
``approvals-bot check`` and at start-up, so both say the same about a wrong organisation."""

from __future__ import annotations

from bot.config import ConfigError
from bot.forest.client import ForestClient
from bot.forest.errors import ForestNotFound, ForestPermissionDenied, ForestUnauthenticated


async def read_organisation(forest: ForestClient, organisation: str) -> int:
    """How many release intents forest lists as active in ``organisation``.

    Raises ConfigError, naming the variable to change, when forest refuses the app token for
    the organisation. Forest's other errors (``ForestUnavailable`` when it does not answer) are
    the caller's to weigh: the check fails, start-up lets the watch wait for forest.
    """
    try:
        intents = await forest.release_intents(organisation)
    except (ForestPermissionDenied, ForestNotFound) as error:
        raise ConfigError(
            "FOREST_ORGANISATION",
            f"names {organisation!r}, which FOREST_APP_TOKEN cannot read "
            f"({error.details or error.sentence}): set it to the organisation the app token "
            "was created in",
        ) from None
    except ForestUnauthenticated:
        raise ConfigError("FOREST_APP_TOKEN", "was refused by forest") from None
    return len(intents)
