"""The landing pages: ``reports/<period>/index.html`` for a month, ``reports/<publish_as>/index.html``
for a named pack (the case study), and ``reports/index.html``.

A month's page leads with the executive summary's headline sentences (from
``results.json``), links to every report (the executive summary first), and states the
run date, how fresh the data is and, for a rerun, which revision it is and the version it
replaces (from ``manifest.json``). The archive lists every published month, newest first,
with its revision and links to the earlier versions kept in its history. Both are rendered with Jinja2 autoescaping: text from
parameter files or data shows as text.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from outcomes.periods import Month, is_month_text
from outcomes.report.answer import unbroken
from outcomes.report.changes import MonthChanges
from outcomes.run import publish
from outcomes.run.html import TEMPLATES_DIR, house_css

@dataclass(frozen=True)
class ReportLink:
    """One report of the month: its page, its title and a note (e.g. the initiative)."""

    href: str
    title: str
    note: str = ""
    lead: bool = False


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR / "pages"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
    )
    # escaped text with each amount of money kept on one line, as in every page's answer
    env.filters["unbroken"] = lambda text: markupsafe.Markup(unbroken(str(text)))
    return env


def _utc(iso: str) -> dt.datetime:
    """An ISO 8601 time as an aware UTC datetime (a naive one is taken as UTC)."""
    value = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def _when(iso: str | None) -> str:
    if not iso:
        return "unknown"
    return _utc(iso).strftime("%d %B %Y, %H:%M UTC")


def _when_short(iso: str | None) -> str:
    """``5 Dec 2026 14:02 UTC`` (``an unknown time`` when missing)."""
    if not iso:
        return "an unknown time"
    value = _utc(iso)
    return f"{value.day} {value:%b %Y %H:%M} UTC"


def revision_note(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """The revision line of a rerun's pages from its ``manifest.json`` (None for a first publication).

    Returns
    -------
    dict or None
        ``text`` ("revision 2, replaces the version of 5 Dec 2026 14:02 UTC") and ``href``
        (the earlier version, relative to the published folder).
    """
    replaces = manifest.get("replaces")
    if not replaces:
        return None
    return {
        "text": f"revision {manifest.get('revision', replaces['revision'] + 1)}, replaces the version of {_when_short(replaces.get('generated_at'))}",
        "href": replaces["href"],
    }


def month_index(
    period: str,
    reports: Sequence[ReportLink],
    results: dict[str, Any],
    manifest: dict[str, Any],
    *,
    changes: MonthChanges | None = None,
    warning: str | None = None,
    answer: Sequence[str] = (),
) -> str:
    """Render a month's landing page: its headlines first, then what changed, then the reports.

    Parameters
    ----------
    period : str
        ``YYYY-MM``.
    reports : sequence of ReportLink
        In display order (the executive summary first).
    results : dict
        The month's ``results.json`` (its ``headlines`` lead the page).
    manifest : dict
        The month's ``manifest.json`` (run date, data freshness).
    changes : MonthChanges, optional
        What changed since the previous published month (none published: no section).
    warning : str, optional
        Shown right after the answer (:func:`outcomes.report.changes.report_age_warning`).
    answer : sequence of str
        The month's answer in short lines (:func:`outcomes.report.summary.results_brief`),
        shown first; the headlines follow. Empty: the headlines are the answer.

    Returns
    -------
    str
        The HTML page.
    """
    freshness = manifest.get("data", {}).get("latest_timestamp")
    return _env().get_template("month.html.j2").render(
        css=house_css(),
        title=f"Monthly report: {Month.parse(period).label}",
        period=period,
        period_label=Month.parse(period).label,
        headlines=list(results.get("headlines", [])),
        reports=list(reports),
        generated=_when(manifest.get("generated_at")),
        freshness=_when(freshness) if freshness else "unknown (no warehouse timestamps)",
        revision=revision_note(manifest),
        changes=changes.sentences() if changes is not None else [],
        since=Month.parse(changes.previous).label if changes is not None and changes.previous else "",
        warning=warning,
        answer=list(answer),
    )


def pack_index(
    title: str,
    description: str,
    reports: Sequence[ReportLink],
    results: dict[str, Any],
    manifest: dict[str, Any],
    *,
    sections: Mapping[str, str] | None = None,
    per_section: int = 3,
) -> str:
    """Render the landing page of a pack published under its own name (``publish_as``).

    Parameters
    ----------
    title : str
        The pack's title.
    description : str
        A line under the title (may be empty).
    reports : sequence of ReportLink
        In display order (the overview first).
    results : dict
        The pack's ``results.json``: its ``headlines`` lead the page; after the links come
        the first sentences of its ``findings``, grouped by section.
    manifest : dict
        The pack's ``manifest.json`` (run date).
    sections : mapping of str to str
        Labels of the findings sections, in display order (the pack's ``sections:``).
    per_section : int
        Finding sentences shown per section (the pages and ``results.json`` hold them all).

    Returns
    -------
    str
        The HTML page.
    """
    sections = dict(sections or {})
    groups: dict[str, list[str]] = {name: [] for name in sections}
    for row in results.get("findings", []):
        groups.setdefault(row["section"], []).append(row["sentence"])
    findings = [
        {"label": sections.get(name, name), "sentences": lines[:per_section], "more": max(len(lines) - per_section, 0)}
        for name, lines in groups.items()
        if lines
    ]
    return _env().get_template("pack.html.j2").render(
        css=house_css(),
        title=title,
        description=description,
        headlines=list(results.get("headlines", [])),
        findings=findings,
        reports=list(reports),
        generated=_when(manifest.get("generated_at")),
    )


def published_packs(reports_dir: Path) -> list[dict[str, str]]:
    """Packs published under their own name in ``reports_dir``: ``href``, ``label`` (title) and ``note``."""
    if not reports_dir.is_dir():
        return []
    packs = []
    for folder in sorted(reports_dir.iterdir()):
        manifest_path = folder / "manifest.json"
        if not (folder / "index.html").is_file() or not manifest_path.is_file():
            continue
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            continue
        if not manifest.get("publish_as"):
            continue
        title = (manifest.get("config") or {}).get("title") or manifest["publish_as"]
        packs.append({"href": f"{folder.name}/index.html", "label": title, "note": f"generated {_when(manifest.get('generated_at'))}"})
    return packs


def published_months(reports_dir: Path) -> list[str]:
    """Periods published in ``reports_dir`` (folders ``YYYY-MM`` with an index page), newest first."""
    if not reports_dir.is_dir():
        return []
    months = [p.name for p in reports_dir.iterdir() if is_month_text(p.name) and (p / "index.html").is_file()]
    return sorted(months, reverse=True)


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; empty when the file is missing or not a JSON object."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def archive_index(reports_dir: Path) -> str:
    """Render ``reports/index.html``: every published month, newest first, with its first headline, then the named packs."""
    months = []
    for period in published_months(reports_dir):
        note = ""
        results_path = reports_dir / period / "results.json"
        if results_path.is_file():
            try:
                headlines = json.loads(results_path.read_text(encoding="utf-8")).get("headlines") or []
            except json.JSONDecodeError:
                headlines = []
            note = headlines[0] if headlines else ""
        manifest = _read_json(reports_dir / period / "manifest.json")
        revision = revision_note(manifest)
        earlier = [
            {
                "href": f"{period}/{folder.relative_to(reports_dir / period).as_posix()}/index.html",
                "label": f"revision {number} of {_when_short(_read_json(folder / 'manifest.json').get('generated_at'))}",
            }
            for number, folder in publish.history_versions(reports_dir / period)
        ]
        months.append(
            {
                "href": f"{period}/index.html",
                "label": Month.parse(period).label,
                "note": note,
                "revision": revision["text"] if revision else "",
                "earlier": earlier,
            }
        )
    return _env().get_template("archive.html.j2").render(css=house_css(), months=months, packs=published_packs(reports_dir))
