"""A release as the approval and plan messages and their thread replies show it: its name, its
author, its commit and its other pages."""

from __future__ import annotations

import string
from collections.abc import Mapping

from bot.approval import Author, Release

from .text import clip, link, one_line, person, safe_url


def name_of(release: Release, release_intent_id: str) -> str:
    """What the release is called, on one line: its title, else its slug, else a short id."""
    for candidate in (release.title, release.slug):
        if one_line(candidate):
            return one_line(candidate)
    return f"Release {release_intent_id[:8]}"


def author_of(
    author: Author | None, slack_users: Mapping[str, str], *, or_email: bool = False
) -> str:
    """The author as a mention when their Slack account is known, else their forest username
    (else, ``or_email``, their e-mail); "" when forest named nobody."""
    if author is None:
        return ""
    slack_id = slack_users.get(author.user_id) if author.user_id else None
    name = one_line(author.username)
    if or_email:
        name = name or one_line(author.email)
    return person(slack_id, name) if slack_id or name else ""


def commit_of(release: Release) -> str:
    """``9f2c1e7 on main``: the short commit and its branch, whichever forest gave."""
    sha = one_line(release.commit_sha)
    if len(sha) > 7 and all(c in string.hexdigits for c in sha):
        sha = sha[:7]
    commit = clip(sha, 40)
    branch = clip(one_line(release.commit_branch), 100)
    if commit and branch:
        return f"{commit} on {branch}"
    return f"on {branch}" if branch else commit


def links_of(release: Release, web_url: str) -> str:
    """The release's other pages, as forest's artifact names them: pull request, CI run, link
    (not the page ``web_url`` the title already links to)."""
    candidates = (
        (release.pr_url, "Pull request"),
        (release.run_url, "CI run"),
        (release.link_url, "Link"),
    )
    shown = [link(url, label) for url, label in candidates if safe_url(url) and url != web_url]
    return " · ".join(shown)
