"""A release as both messages show it: name, author, commit and links."""

from blocks.release import author_of, commit_of, links_of, name_of
from bot.approval import Author, Release


def test_the_name_is_the_title_else_the_slug_else_a_short_id():
    assert name_of(Release(title="feat: logs\nbucket", slug="r-1"), "abcdef123456") == (
        "feat: logs bucket"
    )
    assert name_of(Release(title="  ", slug="r-1"), "abcdef123456") == "r-1"
    assert name_of(Release(), "abcdef123456") == "Release abcdef12"


def test_the_author_is_a_mention_else_the_username_and_the_email_only_where_asked():
    known = {"u-1": "U0ALICE"}
    assert author_of(Author("u-1", "alice"), known) == "<@U0ALICE>"
    assert author_of(Author("u-2", "bob", "bob@example.com"), known) == "bob"
    mailed = Author("u-3", "", "carol@example.com")
    assert author_of(mailed, known) == ""
    assert author_of(mailed, known, or_email=True) == "carol@example.com"
    assert author_of(None, known, or_email=True) == ""


def test_the_commit_is_short_with_its_branch():
    assert commit_of(Release(commit_sha="9f2c1e7aa", commit_branch="main")) == "9f2c1e7 on main"
    assert commit_of(Release(commit_branch="main")) == "on main"
    assert commit_of(Release(commit_sha="v1.2.3-rc")) == "v1.2.3-rc"
    assert commit_of(Release()) == ""


def test_links_leave_out_the_page_the_title_links_to_and_what_is_not_a_web_address():
    release = Release(
        pr_url="https://git.example/pr/91",
        run_url="https://forest.example/r/1",
        link_url="javascript:alert(1)",
    )
    assert links_of(release, "https://forest.example/r/1") == (
        "<https://git.example/pr/91|Pull request>"
    )
    assert links_of(Release(), "https://forest.example/r/1") == ""
