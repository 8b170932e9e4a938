"""The month's index page warns when the reported month is older than the run configuration allows, and shows what changed."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from report_pack import NOTEBOOKS, write_config

from outcomes.errors import ParamsError
from outcomes.report import changes
from outcomes.run.config import load as load_config
from outcomes.run.pages import month_index

REPO = Path(__file__).resolve().parents[1]
MANIFEST = {"generated_at": "2026-12-06T10:00:00Z", "data": {}}


def test_the_repo_run_config_allows_two_months() -> None:
    assert load_config(REPO / "params" / "monthly.yaml").max_report_age_months == 2


def test_max_report_age_months_is_read_from_the_run_config(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, f"- name: ok\n  path: {NOTEBOOKS / 'ok.ipynb'}", max_report_age_months=14))
    assert cfg.max_report_age_months == 14
    assert changes.report_age_warning("2025-12", dt.date(2026, 12, 6), cfg.max_report_age_months) is None
    (tmp_path / "d").mkdir()
    default = load_config(write_config(tmp_path / "d", f"- name: ok\n  path: {NOTEBOOKS / 'ok.ipynb'}"))
    assert changes.report_age_warning("2025-12", dt.date(2026, 12, 6), default.max_report_age_months) is not None


def test_a_negative_age_is_refused_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="max_report_age_months"):
        load_config(write_config(tmp_path, f"- name: ok\n  path: {NOTEBOOKS / 'ok.ipynb'}", max_report_age_months=-1))


def test_the_month_page_shows_the_warning_the_answer_first_and_what_changed() -> None:
    warning = changes.report_age_warning("2025-12", dt.date(2026, 12, 6), 2)
    since = changes.MonthChanges("2025-11", decisions=("Portal: now stop (was keep testing).",))
    page = month_index("2025-12", [], {"headlines": ["Churn fell."]}, MANIFEST, changes=since, warning=warning)
    assert page.index('id="outcomes-answer"') < page.index('role="alert"') < page.index("What changed since November 2025")
    assert "Churn fell." in page and "Portal: now stop (was keep testing)." in page
    short = month_index("2025-12", [], {"headlines": ["Churn fell."]}, MANIFEST, answer=["Worth EUR 1m.", "Bot: roll out."])
    after = re.sub(r"<[^>]+>", "", short[short.index('id="outcomes-answer"'):])  # the reader's text from the answer on
    assert after.index("Worth EUR 1m.") < after.index("Bot: roll out.") < after.index("Churn fell.")
    assert short.count('id="outcomes-answer"') == 1
    plain = month_index("2025-12", [], {"headlines": ["Churn fell."]}, MANIFEST)
    assert 'role="alert"' not in plain and "What changed" not in plain
