"""`outcomes pdf`: a published month printed to A4 PDFs through headless Chromium.

The printed scorecard keeps every column (its status words are in the PDF's text), the
executive summary prints on one page (its detail sections stay on screen), every page is
A4, and a machine without Chromium gets a clear error and exit code 2.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest
import yaml
from browser import require_chromium
from outcomes import config
from outcomes.cli import app
from outcomes.errors import ParamsError, PublishError
from outcomes.run.pdf import chromium, month_folder, print_month
from outcomes.scorecard.card import STATUS_WORDS
from typer.testing import CliRunner

pypdf = pytest.importorskip("pypdf", reason="pypdf reads the printed PDFs (dev extra)")
pytest_plugins = ["demo_pack_plugin"]  # the session-wide `demo_month` fixture

#: A4 in PostScript points (210 x 297 mm), as Chromium writes it (to within a point).
A4 = (595, 842)
runner = CliRunner()


def _text(pdf: Path) -> str:
    """The PDF's text without any whitespace (table cells wrap mid-phrase), ligatures unfolded."""
    pages = pypdf.PdfReader(pdf).pages
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", " ".join(p.extract_text() for p in pages)))


def _published(tmp_path: Path, *months: str) -> Path:
    """A reports folder holding an index page for each of ``months``."""
    reports = tmp_path / "reports"
    for month in months:
        (reports / month).mkdir(parents=True)
        (reports / month / "index.html").write_text("<!DOCTYPE html><html lang=en><title>t</title></html>")
    return reports


@pytest.fixture(scope="module")
def printed(demo_month: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The demo month printed once for the module."""
    require_chromium()
    return print_month(demo_month, tmp_path_factory.mktemp("pdf"))


@pytest.mark.slow
@pytest.mark.browser
def test_one_pdf_per_page_plus_the_index(demo_month: Path, printed: list[Path]) -> None:
    assert sorted(p.stem for p in printed) == sorted(p.stem for p in demo_month.glob("*.html"))
    assert "index" in {p.stem for p in printed}


@pytest.mark.slow
@pytest.mark.browser
def test_every_printed_page_is_a4(printed: list[Path]) -> None:
    for pdf in printed:
        for page in pypdf.PdfReader(pdf).pages:
            assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == A4, pdf.name


@pytest.mark.slow
@pytest.mark.browser
def test_printed_scorecard_keeps_every_status_and_owner(demo_month: Path, printed: list[Path]) -> None:
    rows = json.loads((demo_month / "results.json").read_text())["scorecard"]
    text = _text(next(p for p in printed if p.stem == "01_joint_scorecard"))
    statuses = {r["status"] for r in rows}
    assert statuses, "the scorecard has rows"
    for status in statuses:
        assert re.sub(r"\s+", "", STATUS_WORDS[status]) in text, status
    for owner in {r["owner"] for r in rows if r.get("owner")}:
        assert re.sub(r"\s+", "", owner) in text, owner


@pytest.mark.slow
@pytest.mark.browser
def test_the_printed_summary_is_one_page_pointing_to_the_details(printed: list[Path]) -> None:
    pdf = next(p for p in printed if p.stem == "00_executive_summary")
    assert len(pypdf.PdfReader(pdf).pages) == 1
    text = _text(pdf)
    assert "Headlines" in text and "Whatitisworth" in text and "Werecommend" in text
    assert "Details:seethescorecard,reviewandROIpages" in text
    assert "Initiativedecisions" not in text and "Caveats" not in text


def test_missing_chromium_is_a_clear_error_and_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(PublishError, match=r"no Chromium found on the PATH.*apt-get install chromium"):
        chromium()
    reports = _published(tmp_path, "2025-12")
    doc = yaml.safe_load((config.project().params_dir / "monthly.yaml").read_text())
    doc["reports_dir"] = str(reports)
    params = tmp_path / "monthly.yaml"
    params.write_text(yaml.safe_dump(doc))
    res = runner.invoke(app, ["pdf", "--config", str(params)])
    assert res.exit_code == 2, res.output
    assert "no Chromium found" in res.output
    assert not (reports / "pdf").exists()


def test_month_folder_defaults_to_the_newest_published_month(tmp_path: Path) -> None:
    reports = _published(tmp_path, "2025-11", "2025-12")
    (reports / "pdf").mkdir()
    assert month_folder(reports, None) == reports / "2025-12"
    assert month_folder(reports, "2025-11") == reports / "2025-11"


def test_month_folder_names_the_missing_month_and_the_published_ones(tmp_path: Path) -> None:
    reports = _published(tmp_path, "2025-11")
    with pytest.raises(PublishError, match=r"--period 2025-10 has no published report.*published months: 2025-11"):
        month_folder(reports, "2025-10")
    with pytest.raises(PublishError, match="holds no published month.*outcomes run"):
        month_folder(tmp_path / "elsewhere", None)
    with pytest.raises(ParamsError):
        month_folder(reports, "October")


@pytest.mark.slow
def test_the_summary_flows_on_while_long_reports_break_per_section(demo_month: Path) -> None:
    summary = (demo_month / "00_executive_summary.html").read_text(encoding="utf-8")
    assert 'class="jp-Notebook outcomes-report outcomes-print-one-page"' in summary
    for page in demo_month.glob("0[1-3]_*.html"):
        assert 'class="jp-Notebook outcomes-report outcomes-print-sections"' in page.read_text(encoding="utf-8"), page.name
