"""`rlgen report --html FILE`: one self-contained page (no network, no other files): the tables,
the plots as base64 PNGs, the sweep file's text and where the numbers came from.

The page's only script sorts tables on a header click and, once the page has loaded, records
on <body> how many images decoded (`data-images-ok` of `data-images`), so a headless browser's
DOM dump shows whether every plot rendered.
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlgen.eval.tables import Table

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1500px; padding: 1.2em 2em 3em; color: #1c1e21; background: #fff; }
h1 { font-size: 1.5em; margin-bottom: .2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
p.caption { color: #444; max-width: 70em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .6em 0; font-size: 13px; }
th, td { border: 1px solid #d0d4d9; padding: 3px 7px; text-align: left; white-space: nowrap; }
th { background: #f0f2f5; cursor: pointer; user-select: none; position: sticky; top: 0;
     white-space: normal; max-width: 11em; vertical-align: bottom; }
th.sorted-asc::after { content: " ▲"; } th.sorted-desc::after { content: " ▼"; }
tr:nth-child(even) td { background: #fafbfc; }
td.num { font-variant-numeric: tabular-nums; }
tr.failed td { background: #fdecea; } tr.pending td, tr.running td { background: #fff8e1; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; font-size: 13px; }
pre { background: #f6f8fa; border: 1px solid #e1e4e8; padding: .8em; overflow-x: auto;
      font-size: 12.5px; }
dl.prov { display: grid; grid-template-columns: max-content auto; gap: .2em 1.2em; }
dl.prov dt { font-weight: 600; } dl.prov dd { margin: 0; font-family: ui-monospace, monospace; }
.problems { color: #8a4b00; }
"""

JS = """
(function () {
  function cellValue(row, i) {
    var text = row.cells[i] ? row.cells[i].textContent.trim() : "";
    var num = parseFloat(text);
    return isNaN(num) || !/^-?[0-9.]/.test(text) ? text.toLowerCase() : num;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, i) {
      th.addEventListener("click", function () {
        var asc = !th.classList.contains("sorted-asc");
        table.querySelectorAll("th").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
        th.classList.add(asc ? "sorted-asc" : "sorted-desc");
        var body = table.tBodies[0];
        Array.prototype.slice.call(body.rows).sort(function (a, b) {
          var x = cellValue(a, i), y = cellValue(b, i);
          return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
        }).forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  window.addEventListener("load", function () {
    var imgs = document.querySelectorAll("img");
    var ok = 0;
    imgs.forEach(function (img) { if (img.complete && img.naturalWidth > 0) { ok += 1; } });
    document.body.setAttribute("data-images", String(imgs.length));
    document.body.setAttribute("data-images-ok", String(ok));
    document.body.setAttribute("data-rows", String(document.querySelectorAll("tr.trial").length));
  });
})();
"""


@dataclass
class Page:
    title: str
    intro: list[str] = field(default_factory=list)
    tables: list[tuple[str, Table]] = field(default_factory=list)
    plots: list[tuple[str, Path]] = field(default_factory=list)
    texts: list[tuple[str, str]] = field(default_factory=list)    # (heading, preformatted text)
    provenance: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    trial_table: str | None = None     # the title of the table whose rows are trials


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _is_num(cell: str) -> bool:
    return bool(cell) and (cell[0].isdigit() or (cell[0] == "-" and cell[1:2].isdigit()))


def table_html(table: Table, trials: bool = False) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in table.header)
    rows = []
    for i, row in enumerate(table.rows):
        attrs = []
        classes = (["trial"] if trials else []) + ([table.row_classes[i]] if i < len(table.row_classes) else [])
        if classes:
            attrs.append(f'class="{_e(" ".join(classes))}"')
        if i < len(table.row_ids):
            key = "data-trial" if trials else "data-row"
            attrs.append(f'id="{_e(("trial-" if trials else "") + table.row_ids[i])}" {key}="{_e(table.row_ids[i])}"')
        cells = "".join(f'<td class="num">{_e(c)}</td>' if _is_num(c) else f"<td>{_e(c)}</td>" for c in row)
        rows.append(f"<tr {' '.join(attrs)}>{cells}</tr>" if attrs else f"<tr>{cells}</tr>")
    return (f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _img(path: Path, caption: str) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)} <code>({_e(Path(path).name)})</code></figcaption></figure>")


def _dl(info: dict[str, Any]) -> str:
    items = []
    for k, v in info.items():
        if isinstance(v, dict):
            v = ", ".join(f"{a} {b}" for a, b in v.items())
        elif isinstance(v, list | tuple):
            v = ", ".join(map(str, v))
        items.append(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>")
    return f'<dl class="prov">{"".join(items)}</dl>'


def render(page: Page) -> str:
    parts = [f"<h1>{_e(page.title)}</h1>"] + [f"<p>{_e(line)}</p>" for line in page.intro]
    if page.problems:
        parts.append('<ul class="problems">' + "".join(f"<li>{_e(p)}</li>" for p in page.problems) + "</ul>")
    for title, table in page.tables:
        parts.append(f'<section id="{_e(_anchor(title))}"><h2>{_e(title)}</h2>')
        if table.caption:
            parts.append(f'<p class="caption">{_e(table.caption)}</p>')
        parts.append(table_html(table, trials=title == page.trial_table) + "</section>")
    if page.plots:
        parts.append('<section id="plots"><h2>Plots</h2>' +
                     "".join(_img(path, caption) for caption, path in page.plots) + "</section>")
    for title, text in page.texts:
        parts.append(f'<section id="{_e(_anchor(title))}"><h2>{_e(title)}</h2><pre>{_e(text)}</pre></section>')
    if page.provenance:
        parts.append('<section id="provenance"><h2>Provenance</h2>')
        for title, info in page.provenance:
            parts.append(f"<h3>{_e(title)}</h3>{_dl(info)}")
        parts.append("</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(page.title)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(parts) + f"\n<script>{JS}</script>\n</body></html>\n")


def _anchor(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")


def write(page: Page, path: str | Path) -> Path:
    from rlgen.runs import atomic_write_bytes

    path = Path(path)
    atomic_write_bytes(path, lambda f: f.write(render(page).encode("utf-8")))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)  # a page to share, not the private temp file's 0600
    return path


def markdown_page(title: str, markdown: str, plots: Sequence[tuple[str, Path]],
                  provenance: list[tuple[str, dict[str, Any]]]) -> Page:
    """A page from `rlgen.eval.report.report`'s markdown (run lists, not sweeps): its
    paragraphs become captions of the pipe table that follows them; the first table's rows
    are the runs."""
    page = Page(title, plots=list(plots), provenance=provenance)
    caption: list[str] = []
    block: list[str] = []
    titles = ["Runs", "Groups", "Probability of improvement"]

    def flush() -> None:
        if block:
            t = Table.from_markdown("\n".join(block), " ".join(caption))
            name = titles[len(page.tables)] if len(page.tables) < len(titles) else f"Table {len(page.tables) + 1}"
            page.tables.append((name, t))
            block.clear()
            caption.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            block.append(line)
        else:
            flush()
            if line.strip():
                caption.append(line.strip())
    flush()
    if page.tables:
        runs = page.tables[0][1]
        runs.row_ids = ["-".join(r[:4]) for r in runs.rows]  # env-agent-dataset-seed
        page.trial_table = page.tables[0][0]
    return page
