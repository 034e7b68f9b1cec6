"""mkdocs hook: the output schemas on ``outputs.md`` name every field the code defines.

The schemas are defined once in the code (``genolm.bench.records.RECORD_FIELDS``,
``genolm.variants.output.INFO_FIELDS``, the columns of ``VariantScores.to_frame``); a field added
there and not described under its heading here stops the (strict) build.
"""

from __future__ import annotations

import re

from mkdocs.exceptions import PluginError

PAGE = "outputs.md"
TABLE_COLUMNS = (
    "record allele chrom pos id ref alt score score_fwd score_rc method status message"  # to_frame
).split()


def _section(markdown: str, heading: str) -> str:
    m = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", markdown, flags=re.M | re.S)
    if m is None:
        raise PluginError(f"{PAGE}: no '## {heading}' section")
    return m.group(1)


def _require(markdown: str, heading: str, names, source: str) -> None:
    text = _section(markdown, heading)
    missing = [n for n in names if f"`{n}`" not in text]
    if missing:
        raise PluginError(f"{PAGE} '## {heading}' does not describe {missing} (defined in {source})")


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != PAGE:
        return markdown
    import inspect

    from genolm.bench.records import RECORD_FIELDS
    from genolm.variants.output import INFO_FIELDS
    from genolm.variants.scoring import VariantScores

    _require(markdown, "Run record", RECORD_FIELDS, "genolm.bench.records.RECORD_FIELDS")
    _require(markdown, "Variant scores", INFO_FIELDS, "genolm.variants.output.INFO_FIELDS")
    src = inspect.getsource(VariantScores.to_frame)
    in_code = re.findall(r'^\s+"([a-z_]+)": ', src, flags=re.M)
    if in_code != TABLE_COLUMNS:  # the columns changed: update TABLE_COLUMNS and outputs.md
        raise PluginError(
            f"VariantScores.to_frame columns are {in_code}; docs/hooks/schemas.py expects {TABLE_COLUMNS}"
        )
    _require(markdown, "Variant scores", TABLE_COLUMNS, "VariantScores.to_frame")
    return markdown
