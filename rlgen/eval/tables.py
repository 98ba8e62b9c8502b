"""A table as data, written as markdown (terminal, report.md) or HTML (the report page), so the
two outputs cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    caption: str = ""                  # what the numbers are: printed above the table
    row_ids: list[str] = field(default_factory=list)       # per row, for HTML anchors / tests
    row_classes: list[str] = field(default_factory=list)   # per row, e.g. the trial's state

    def markdown(self) -> str:
        def line(cells: list[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        return "\n".join([line(self.header), "|" + "---|" * len(self.header)]
                         + [line(r) for r in self.rows])

    @classmethod
    def from_markdown(cls, text: str, caption: str = "") -> Table:
        """The first pipe table in `text` (as written by `markdown()` or rlgen.eval.report)."""
        lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("|")]
        if len(lines) < 2:
            raise ValueError("no markdown table in the text")

        def cells(ln: str) -> list[str]:
            return [c.strip().replace("\\|", "|") for c in ln.strip("|").split(" | ")]

        return cls(cells(lines[0]), [cells(ln) for ln in lines[2:]], caption)
