"""The ROI page's shrinkage section: each measured effect raw and shrunk, with its NPV both ways.

The portfolio's total sums the shrunk cases (:mod:`outcomes.value.shrinkage`); this section shows
readers what the shrinkage changed, or says that nothing was shrunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from IPython.display import Markdown

from outcomes import format as fmt
from outcomes.metrics import catalog
from outcomes.report.tables import table
from outcomes.report.text import escape_md
from outcomes.value.montecarlo import InvestmentCase
from outcomes.value.shrinkage import ShrunkEffect

#: Columns of the shrinkage table.
COLUMNS = ["Initiative", "IT metric", "Raw effect", "Shrunk effect", "Raw NPV (P50)", "Shrunk NPV (P50)"]


def shrinkage_entry(
    effect: ShrunkEffect | None, raw: InvestmentCase, shrunk: InvestmentCase | None
) -> dict[str, Any] | None:
    """The results.json ``roi[].shrinkage`` entry: both effects and both median NPVs; None when not shrunk."""
    if effect is None or not effect.is_shrunk or shrunk is None:
        return None
    return {**effect.to_dict(), "raw_npv_p50": raw.to_dict()["npv_p50"], "shrunk_npv_p50": shrunk.to_dict()["npv_p50"]}


def shrinkage_frame(
    cases: tuple[InvestmentCase, ...], effects: Mapping[str, ShrunkEffect], shrunk: Mapping[str, InvestmentCase]
) -> pd.DataFrame:
    """One row per shrunk initiative: its effect and median NPV, raw and shrunk (formatted text).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`; empty when nothing was shrunk.
    """
    rows = []
    for case in cases:
        e = effects.get(case.initiative)
        if e is None or not e.is_shrunk or case.initiative not in shrunk:
            continue
        rows.append(
            [
                case.name,
                catalog.in_words(e.kind),
                fmt.significant(e.raw, signed=True, zeros=True),
                fmt.significant(e.shrunk, signed=True, zeros=True),
                fmt.money(case.to_dict()["npv_p50"], case.currency),
                fmt.money(shrunk[case.initiative].to_dict()["npv_p50"], case.currency),
            ]
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def shrinkage_views(
    cases: tuple[InvestmentCase, ...], effects: Mapping[str, ShrunkEffect], shrunk: Mapping[str, InvestmentCase]
) -> list[Any]:
    """The section's sentence and, when something was shrunk, the table.

    Returns
    -------
    list
        A Markdown reading, then an HTML table when at least two measured effects share an IT metric.
    """
    frame = shrinkage_frame(cases, effects, shrunk)
    alone = sorted(e.kind for e in effects.values() if not e.is_shrunk)
    if frame.empty:
        why = (
            "No two initiatives measured the same IT metric, so no effect is shrunk: each enters the portfolio as measured."
            if effects
            else "No initiative has a measured effect yet, so no effect is shrunk: each case uses its stated assumption."
        )
        return [Markdown(escape_md(why))]
    lead = (
        "Measured effects on the same IT metric are shrunk toward each other (empirical Bayes, "
        "between-initiative variance by DerSimonian-Laird) before the portfolio is totalled: a noisy "
        "effect moves further toward the others than a precise one. The total of the portfolio sums the "
        "shrunk cases; each initiative's own figures stay as measured."
    )
    if alone:
        lead += " Alone of their kind, and so not shrunk: " + fmt.join(catalog.in_words(k) for k in alone) + "."
    return [Markdown(escape_md(lead)), table(frame, caption="Each shrunk initiative's effect and median NPV, raw and shrunk.")]
