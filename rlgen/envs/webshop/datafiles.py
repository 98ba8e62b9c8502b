"""WebShop's data files: the packaged 1,000-product copy and where the full catalogue comes from.

`1k` is shipped zstd-compressed in `data/` (MIT, see data/LICENSE and data/README.md);
`rlgen data fetch webshop --size 1k` writes the plain JSON files into the cache with no network.
`full` (1.18M products) is downloaded from the Google Drive files that the original's
`setup.sh -d all` uses; nobody publishes their checksums, so the first verified download records
them (rlgen.data.fetch).
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from rlgen.data.fetch import FileSet, RemoteFile

PACKAGED_DIR = Path(__file__).resolve().parent / "data"
#: Google Drive ids from princeton-nlp/WebShop setup.sh (commit 64fa2a5); `confirm=t` skips the
#: virus-scan page Drive shows for large files.
_DRIVE = "https://drive.usercontent.google.com/download?export=download&confirm=t&id="


def open_packaged(name: str) -> BinaryIO:
    """A packaged file by its plain name (`items_shuffle_1000.json`), decompressed as read."""
    import zstandard

    path = PACKAGED_DIR / f"{name}.zst"
    if not path.exists():
        raise FileNotFoundError(f"{name} is not packaged in {PACKAGED_DIR}")
    return zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)


#: `rlgen data fetch webshop --size NAME`. The 1k URLs record where the files came from; rlgen
#: installs the packaged copy instead (a mirror given with --url-base must match its checksums).
FILESETS: dict[str, FileSet] = {
    "1k": FileSet(
        name="webshop-1k", folder="webshop/1k", packaged=open_packaged,
        note="the 1,000-product catalogue, installed from the copy inside the package",
        files=(
            RemoteFile("items_shuffle_1000.json", _DRIVE + "1EgHdxQ_YxqIQlvvq5iKlCrkEKR6-j0Ib",
                       "14479e7c303d8075b4eb148b51b1b21bed3919b547598aabc73919b087ff9fa2",
                       2748120, json=True),
            RemoteFile("items_ins_v2_1000.json", _DRIVE + "1IduG0xl544V_A_jv3tHXC0kyFi7PnyBu",
                       "f88a36314a397b53b3d9c3fa5878e5f7b26d35019a51ec83fbedeca61a948f6f",
                       147099, json=True),
            # rlgen's own derived file (spaCy nouns of each title); it has no upstream URL.
            RemoteFile("product_title_nouns.json", "",
                       "9383f3c622bd486c43fccceeea8e98e5904a29e9bf26ec8b310ab5bab0257d68",
                       162900, json=True),
        )),
    "full": FileSet(
        name="webshop-full", folder="webshop/full",
        note="the 1.18M-product catalogue from the original's Google Drive links "
             "(checksums not published: recorded on first download)",
        files=(
            RemoteFile("items_shuffle.json", _DRIVE + "1A2whVgOO0euk5O13n2iYDM0bQRkkRduB", json=True),
            RemoteFile("items_ins_v2.json", _DRIVE + "1s2j6NgHljiZzQNL3veZaAiyW_qDEgBNi", json=True),
        )),
}
