"""The README's commands run as written: every ``bash`` block carries a ``<!-- commands: ... -->``
marker saying what it needs; the blocks marked ``run`` are executed from a scratch directory laid
out like a fresh clone (the entry scripts and ``.venv`` of this checkout, ``../shared`` beside it)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"<!-- commands: (.+?) -->")
HANG_GUARD_S = 600  # a hang guard, not a speed assertion


def readme_blocks() -> list[tuple[int, str, list[str]]]:
    """``(line number, marker, commands)`` of each bash block; continuation lines joined,
    comments and blank lines dropped."""
    lines = (REPO / "README.md").read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```bash":
            m = MARKER.search(lines[i - 1]) if i else None
            j = i + 1
            body = []
            while lines[j].strip() != "```":
                body.append(lines[j])
                j += 1
            commands, pending = [], ""
            for raw in body:
                line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
                if not line and not pending:
                    continue
                if line.endswith("\\"):
                    pending += line[:-1].strip() + " "
                    continue
                commands.append((pending + line.strip()).strip())
                pending = ""
            blocks.append((i + 1, m.group(1) if m else "", commands))
            i = j
        i += 1
    return blocks


def runnable_commands() -> list[str]:
    return [c for _, marker, cmds in readme_blocks() if marker == "run" for c in cmds]


def test_every_bash_block_says_what_it_needs():
    unmarked = [line for line, marker, _ in readme_blocks() if not marker]
    assert not unmarked, f"README bash blocks without a '<!-- commands: ... -->' marker at lines {unmarked}"
    assert len(runnable_commands()) >= 8


@pytest.fixture(scope="module")
def fresh_layout(tmp_path_factory, shared_dir) -> Path:
    """``<tmp>/clone`` with the checkout's entry points and .venv, and ``<tmp>/shared``."""
    if not (REPO / ".venv" / "bin" / "trtssd").exists():
        pytest.skip("no .venv/bin/trtssd in the checkout (make setup)")
    root = tmp_path_factory.mktemp("readme")
    clone = root / "clone"
    clone.mkdir()
    for name in ("trt_ssd.py", "trt_ssd_async.py", "eval_ssd.py", "ssd", ".venv"):
        (clone / name).symlink_to(REPO / name)
    (root / "shared").symlink_to(shared_dir)
    return clone


@pytest.mark.slow
@pytest.mark.parametrize("command", runnable_commands())
def test_readme_command_runs_as_written(command, fresh_layout):
    r = subprocess.run(["bash", "-c", command], cwd=fresh_layout, capture_output=True, text=True,
                       timeout=HANG_GUARD_S, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert r.returncode == 0, f"{command}\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
