"""`rlgen data fetch`: downloads from a local HTTP server on 127.0.0.1 (fixture files made here),
resumed after a cut connection, refused when truncated or corrupted, and never left half-written
in the cache."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rlgen.cli import main as rlgen_main
from rlgen.data.fetch import DownloadError, FileSet, RemoteFile, fetch, read_sums


class FixtureServer:
    """Serves `files` (name -> bytes) with HTTP Range support. `cut[name] = n`: the next request
    for `name` announces the whole length but closes after `n` bytes. `swap[name] = bytes`: serve
    these bytes instead. `html`: answer every request with an HTML page. Requests are logged."""

    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.cut: dict[str, int] = {}
        self.swap: dict[str, bytes] = {}
        self.html = False
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                name = self.path.lstrip("/")
                server.requests.append((name, self.headers.get("Range")))
                if server.html:
                    body = b"<html><body>Google Drive can't scan this file</body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                data = server.swap.get(name, server.files.get(name))
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                limit = server.cut.pop(name, None)
                self.wfile.write(data[start:] if limit is None else data[start:start + limit])
                if limit is not None:
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _payload(n_items: int, seed: int = 0) -> bytes:
    rows = [{"asin": f"B{seed:02d}{i:07d}", "name": f"product {i} " + "x" * (i % 50)} for i in range(n_items)]
    return json.dumps(rows).encode()


def _fileset(files: dict[str, bytes], checksums: bool = True) -> FileSet:
    return FileSet("fixture", "fixture", tuple(
        RemoteFile(name, "", hashlib.sha256(data).hexdigest() if checksums else None,
                   len(data) if checksums else None, json=True)
        for name, data in files.items()))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RLGEN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


FILES = {"a.json": _payload(20000), "b.json": _payload(300, seed=1)}


def test_download_verifies_and_moves_into_the_cache(cache):
    with FixtureServer(FILES) as server:
        folder = fetch(_fileset(FILES), url_base=server.url, progress=False, log=lambda _: None)
    assert folder == cache / "fixture"
    for name, data in FILES.items():
        assert (folder / name).read_bytes() == data
    assert not list(folder.glob("*.part"))
    assert read_sums(folder)["a.json"] == (hashlib.sha256(FILES["a.json"]).hexdigest(), len(FILES["a.json"]))
    with FixtureServer(FILES) as server:  # a second fetch keeps the files, asks for nothing
        fetch(_fileset(FILES), url_base=server.url, progress=False, log=lambda _: None)
    assert server.requests == []


def test_a_cut_connection_is_resumed_with_a_range_request(cache):
    size = len(FILES["a.json"])
    with FixtureServer(FILES) as server:
        server.cut["a.json"] = size // 3
        folder = fetch(_fileset(FILES), url_base=server.url, progress=False, retries=2, log=lambda _: None)
    assert (folder / "a.json").read_bytes() == FILES["a.json"]
    a_requests = [r for r in server.requests if r[0] == "a.json"]
    assert a_requests == [("a.json", None), ("a.json", f"bytes={size // 3}-")]


def test_without_retries_the_part_file_is_kept_and_the_next_run_resumes(cache):
    size = len(FILES["a.json"])
    fileset = _fileset(FILES)
    with FixtureServer(FILES) as server:
        server.cut["a.json"] = size // 2
        with pytest.raises(DownloadError, match="run the same command again to resume"):
            fetch(fileset, url_base=server.url, progress=False, retries=0, log=lambda _: None)
        folder = cache / "fixture"
        assert not (folder / "a.json").exists()
        assert (folder / "a.json.part").stat().st_size == size // 2
        fetch(fileset, url_base=server.url, progress=False, retries=0, log=lambda _: None)
    assert (folder / "a.json").read_bytes() == FILES["a.json"] and not (folder / "a.json.part").exists()
    assert server.requests[-2:] == [("a.json", f"bytes={size // 2}-"), ("b.json", None)]


def test_wrong_bytes_are_detected_and_not_kept(cache):
    corrupted = bytearray(FILES["a.json"])
    corrupted[1000:1010] = b"0123456789"
    with FixtureServer(FILES) as server:
        server.swap["a.json"] = bytes(corrupted)
        with pytest.raises(DownloadError, match="sha256 .* instead of .*corrupted"):
            fetch(_fileset(FILES), url_base=server.url, progress=False, log=lambda _: None)
    folder = cache / "fixture"
    assert not (folder / "a.json").exists() and not (folder / "a.json.part").exists()


def test_a_short_file_served_as_complete_is_detected_and_not_kept(cache):
    with FixtureServer(FILES) as server:
        server.swap["a.json"] = FILES["a.json"][:5000]  # Content-Length matches the short body
        with pytest.raises(DownloadError, match="5,000 bytes instead of .*truncated"):
            fetch(_fileset(FILES), url_base=server.url, progress=False, log=lambda _: None)
    assert not list((cache / "fixture").glob("a.json*"))


def test_unpublished_checksums_are_recorded_then_enforced(cache):
    fileset = _fileset(FILES, checksums=False)
    with FixtureServer(FILES) as server:
        folder = fetch(fileset, url_base=server.url, progress=False, log=lambda _: None)
        recorded = read_sums(folder)
        assert recorded["b.json"] == (hashlib.sha256(FILES["b.json"]).hexdigest(), len(FILES["b.json"]))
        (folder / "b.json").unlink()  # lost; the next download must match what was recorded
        server.swap["b.json"] = _payload(300, seed=2)
        with pytest.raises(DownloadError, match="corrupted"):
            fetch(fileset, url_base=server.url, progress=False, log=lambda _: None)
        assert not list(folder.glob("b.json*"))
        server.html = True  # and an HTML page is never taken for the file
        with pytest.raises(DownloadError, match="HTML page"):
            fetch(fileset, url_base=server.url, progress=False, log=lambda _: None)
    assert not list(folder.glob("b.json*"))


def test_cli_fetches_webshop_1k_from_the_package_or_a_mirror(cache, capsys):
    from rlgen.envs.webshop.datafiles import FILESETS, open_packaged

    assert rlgen_main(["data", "fetch", "webshop", "--size", "1k", "--quiet"]) == 0
    packaged = cache / "webshop" / "1k"
    names = [f.name for f in FILESETS["1k"].files]
    assert sorted(p.name for p in packaged.glob("*.json")) == sorted(names)
    # The same files from a mirror on 127.0.0.1: checked against the real catalogue's checksums.
    files = {}
    for name in names:
        with open_packaged(name) as f:
            files[name] = f.read()
    mirror_cache = cache.parent / "mirror-cache"
    with pytest.MonkeyPatch.context() as mp, FixtureServer(files) as server:
        mp.setenv("RLGEN_CACHE", str(mirror_cache))
        server.swap["items_ins_v2_1000.json"] = files["items_ins_v2_1000.json"].replace(b"a", b"b", 1)
        assert rlgen_main(["data", "fetch", "webshop", "--url-base", server.url, "--quiet"]) == 2
        assert "items_ins_v2_1000.json: sha256" in capsys.readouterr().err
        del server.swap["items_ins_v2_1000.json"]
        assert rlgen_main(["data", "fetch", "webshop", "--size", "1k", "--url-base", server.url,
                           "--quiet"]) == 0
    for name in names:
        assert (mirror_cache / "webshop" / "1k" / name).read_bytes() == (packaged / name).read_bytes()
    assert rlgen_main(["data", "fetch", "webshop", "--size", "fulll"]) == 2
    assert "Did you mean 'full'" in capsys.readouterr().err


def test_fetched_full_catalogue_is_what_data_dir_full_reads(cache, capfd):
    """`full` from a mirror (the 1k files standing in for the 1.18M ones, which are too big
    to serve here): no published checksums, so they are recorded; the env then reads the cache."""
    from rlgen.envs.webshop.catalogue import load_catalogue
    from rlgen.envs.webshop.datafiles import open_packaged
    from rlgen.registry import make_env_spec

    with pytest.raises(FileNotFoundError, match="rlgen data fetch webshop --size full"):
        make_env_spec("webshop", data_dir="full")
    files = {}
    for ours, theirs in (("items_shuffle_1000.json", "items_shuffle.json"),
                         ("items_ins_v2_1000.json", "items_ins_v2.json")):
        with open_packaged(ours) as f:
            files[theirs] = f.read()
    with FixtureServer(files) as server:
        assert rlgen_main(["data", "fetch", "webshop", "--size", "full", "--url-base", server.url]) == 0
    out = capfd.readouterr().out
    assert "no published checksum, recorded sha256" in out
    assert set(read_sums(cache / "webshop" / "full")) == set(files)
    load_catalogue.cache_clear()
    spec = make_env_spec("webshop", data_dir="full")
    assert len(spec.impl.build_splits("", spec.options)["train"]) == 6910 - 1500
    assert load_catalogue("full").source == "full"
    assert "type reward uses all title words" in capfd.readouterr().err  # no nouns file for full
    load_catalogue.cache_clear()


def test_without_a_checksum_a_cut_off_json_file_is_still_refused(cache):
    """A short body served as complete, with no size or checksum to compare it to."""
    short = {"a.json": FILES["a.json"][:7000]}
    with FixtureServer(short) as server:
        with pytest.raises(DownloadError, match="ends early"):
            fetch(_fileset(short, checksums=False), url_base=server.url, progress=False,
                  log=lambda _: None)
    assert not list((cache / "fixture").glob("a.json*"))
