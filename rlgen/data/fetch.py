"""Fetching data files into the cache: checksums, resumable downloads, atomic moves.

A `FileSet` lists files with where to get them and, where known, their size and sha256. `fetch`
puts every file into its folder under `cache_dir()`: bytes go to `NAME.part` (a later call
resumes it with an HTTP Range request), are checked (size, sha256, not an HTML page), and only
then renamed onto `NAME`, so a cache file is always complete. A file whose checksum or size is
wrong is deleted, never kept. A file set may ship a compressed copy inside the package
(`packaged`), installed with no network.

Checksums nobody published are recorded on first download: `CHECKSUMS` in the folder keeps the
sha256 and size of every file that arrived, and later downloads of the same name must match.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rlgen.paths import cache_dir

SUMS_FILE = "CHECKSUMS"
CHUNK = 1 << 20


class DownloadError(ValueError):
    """A download that failed or arrived wrong (a ValueError: the CLI prints it on one line)."""


@dataclass(frozen=True)
class RemoteFile:
    name: str  # file name in the destination folder
    url: str  # upstream location
    sha256: str | None = None  # None: not published (then recorded on first download)
    size: int | None = None  # bytes, when known
    json: bool = False  # the content is JSON: refuse anything that does not start like it


@dataclass(frozen=True)
class FileSet:
    name: str  # e.g. webshop-full
    folder: str  # destination, relative to cache_dir()
    files: tuple[RemoteFile, ...]
    #: opens a packaged copy of a file by name (decompressed); with it no network is needed
    packaged: Callable[[str], BinaryIO] | None = None
    note: str = ""

    def destination(self) -> Path:
        return cache_dir() / self.folder


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def read_sums(folder: Path) -> dict[str, tuple[str, int]]:
    """name -> (sha256, size) recorded in `folder/CHECKSUMS` (`sha256  size  name` lines)."""
    path = folder / SUMS_FILE
    if not path.exists():
        return {}
    sums = {}
    for line in path.read_text().splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3 and not line.startswith("#"):
            sums[parts[2]] = (parts[0], int(parts[1]))
    return sums


def _write_sums(folder: Path, sums: dict[str, tuple[str, int]]) -> None:
    tmp = folder / f"{SUMS_FILE}.part"
    lines = [f"{h}  {n}  {name}\n" for name, (h, n) in sorted(sums.items())]
    tmp.write_text("# sha256  bytes  name (recorded by rlgen data fetch)\n" + "".join(lines))
    os.replace(tmp, folder / SUMS_FILE)


def fetch(fileset: FileSet, url_base: str | None = None, dest: Path | None = None,
          progress: bool = True, retries: int = 3, log: Callable[[str], None] = print) -> Path:
    """Every file of `fileset` into `dest` (default its cache folder); returns the folder.

    Files already there are kept. Without `url_base` a packaged copy is installed when the set
    has one, else each file's upstream URL is downloaded; with it, `url_base/NAME` is (a mirror,
    or a local server in tests). An interrupted download is retried `retries` times, resuming."""
    folder = dest or fileset.destination()
    folder.mkdir(parents=True, exist_ok=True)
    sums = read_sums(folder)
    for f in fileset.files:
        target = folder / f.name
        recorded = sums.get(f.name)
        expected = RemoteFile(f.name, f.url, f.sha256 or (recorded[0] if recorded else None),
                              f.size or (recorded[1] if recorded else None), f.json)
        if target.exists() and expected.size is not None and target.stat().st_size != expected.size:
            log(f"{target}: {target.stat().st_size:,} bytes instead of {expected.size:,}; "
                "fetching it again")
            target.unlink()
        if target.exists():
            log(f"{target}: present")
            if f.name not in sums:
                sums[f.name] = (sha256_of(target), target.stat().st_size)
            continue
        if url_base is None and fileset.packaged is not None:
            _install_packaged(fileset.packaged, expected, target)
            how = "installed from the packaged copy"
        else:
            url = f"{url_base.rstrip('/')}/{f.name}" if url_base else f.url
            _download_with_retries(url, expected, target, progress, retries, log)
            how = f"downloaded from {url}"
        digest, size = sha256_of(target), target.stat().st_size
        if expected.sha256 is None:
            how += f"; no published checksum, recorded sha256 {digest} in {folder / SUMS_FILE}"
        sums[f.name] = (digest, size)
        _write_sums(folder, sums)
        log(f"{target}: {size:,} bytes, sha256 verified, {how}" if expected.sha256 else
            f"{target}: {size:,} bytes, {how}")
    _write_sums(folder, sums)
    return folder


def _part(target: Path) -> Path:
    return target.with_name(target.name + ".part")


def _verify_and_move(part: Path, f: RemoteFile, target: Path) -> None:
    """Rename `part` onto `target` if it is what `f` promises; else delete it and raise."""
    size = part.stat().st_size
    problem = None
    if f.size is not None and size != f.size:
        problem = f"{size:,} bytes instead of {f.size:,} (truncated or wrong file)"
    elif f.sha256 is not None and (digest := sha256_of(part)) != f.sha256:
        problem = f"sha256 {digest} instead of {f.sha256} (corrupted or wrong file)"
    elif f.json:  # without a checksum, at least a cut-off or HTML payload is caught
        with open(part, "rb") as fh:
            head = fh.read(4096).lstrip()
            fh.seek(max(0, size - 4096))
            tail = fh.read().rstrip()
        if not head or head[:1] not in (b"[", b"{"):
            problem = "content is not JSON (an HTML error or confirmation page?)"
        elif tail[-1:] not in (b"]", b"}"):
            problem = "JSON content ends early (truncated)"
    if problem:
        part.unlink()
        raise DownloadError(f"{f.name}: {problem}; deleted, nothing was put in {target.parent}")
    os.replace(part, target)


def _install_packaged(opener: Callable[[str], BinaryIO], f: RemoteFile, target: Path) -> None:
    part = _part(target)
    with opener(f.name) as src, open(part, "wb") as out:
        shutil.copyfileobj(src, out, CHUNK)
    _verify_and_move(part, f, target)


class _Interrupted(Exception):
    """The connection ended early; the `.part` file holds what arrived and can be resumed."""


def _download_with_retries(url: str, f: RemoteFile, target: Path, progress: bool, retries: int,
                           log: Callable[[str], None]) -> None:
    for attempt in range(retries + 1):
        try:
            _download(url, f, target, progress)
            return
        except _Interrupted as e:
            if attempt == retries:
                raise DownloadError(f"{f.name}: {e}; the partial file {_part(target)} is kept: "
                                    "run the same command again to resume") from None
            log(f"{f.name}: {e}; resuming (retry {attempt + 1} of {retries})")


def _download(url: str, f: RemoteFile, target: Path, progress: bool) -> None:
    from tqdm.auto import tqdm

    part = _part(target)
    have = part.stat().st_size if part.exists() else 0
    if f.size is not None and have > f.size:
        part.unlink()
        have = 0
    if f.size is not None and have == f.size:
        _verify_and_move(part, f, target)  # a complete download that was not moved yet
        return
    request = urllib.request.Request(url, headers={"User-Agent": "rlgen"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left after `have`: check what we hold
            _verify_and_move(part, f, target)
            return
        raise DownloadError(f"{f.name}: {url} answered HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise _Interrupted(f"cannot reach {url} ({getattr(e, 'reason', e)})") from None
    with response:
        kind = response.headers.get_content_type()
        if f.json and kind == "text/html":
            raise DownloadError(f"{f.name}: {url} sent an HTML page, not the file (for Google "
                                "Drive: a quota or confirmation page; fetch it in a browser, "
                                "or use --url-base with a mirror)")
        if have and response.status == 206:
            start = _range_start(response.headers.get("Content-Range", ""))
            if start != have:
                raise DownloadError(f"{f.name}: asked to resume at byte {have}, server sent "
                                    f"{response.headers.get('Content-Range')!r}")
            mode = "ab"
        else:  # 200: the server ignored the Range header, start over
            have, mode = 0, "wb"
        length = response.headers.get("Content-Length")
        expected_end = have + int(length) if length is not None else f.size
        bar = tqdm(total=expected_end, initial=have, unit="B", unit_scale=True,
                   desc=f.name, disable=not progress, leave=False)
        received = have
        try:
            with open(part, mode) as out:
                while True:
                    try:
                        block = response.read(CHUNK)
                    except (http.client.IncompleteRead, ConnectionError, TimeoutError) as e:
                        if isinstance(e, http.client.IncompleteRead) and e.partial:
                            out.write(e.partial)
                            received += len(e.partial)
                        raise _Interrupted(f"connection lost after {received:,} bytes") from None
                    if not block:
                        break
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
        finally:
            bar.close()
    if expected_end is not None and received < expected_end:
        raise _Interrupted(f"connection closed after {received:,} of {expected_end:,} bytes")
    _verify_and_move(part, f, target)


def _range_start(content_range: str) -> int | None:
    """First byte of a `bytes START-END/TOTAL` Content-Range header."""
    try:
        unit, rest = content_range.split(" ", 1)
        return int(rest.split("-", 1)[0]) if unit == "bytes" else None
    except ValueError:
        return None
