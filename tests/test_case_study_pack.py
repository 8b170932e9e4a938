"""The case-study pack (``params/case_study.yaml``): its configuration, and the full run on the public data.

Fast tests (always): the configuration loads and names a notebook for every section, every
parameter it passes is declared by its notebook, unknown keys and pack-only keys are named,
a missing data folder stops the run before anything executes, a named pack publishes into
its own folder beside the months (on a fixture notebook), and the personal-data scan reads
ids from data files.

End to end (only with ``../shared/data``, as in CI): ``outcomes run --config
params/case_study.yaml`` into a temporary reports folder; every page is published and
listed, ``results.json`` is valid with findings from every section, no code is shown,
every chart renders offline in headless Chromium, and no customer id of the datasets
appears anywhere.
"""

from __future__ import annotations

import concurrent.futures as cf
import gzip
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
import yaml
from browser import PageLoad, load, require_chromium
from page_text import DECIMAL_COUNT, ZERO_COEF, visible_text
from report_pack import NOTEBOOKS, write_config

from outcomes import config
from outcomes.casestudy.findings import HEADLINE_RULE
from outcomes.errors import ParamsError
from outcomes.run import pii
from outcomes.run.html import vega_bundle
from outcomes.run.lock import LOCK_NAME
from outcomes.run.monthly import check_parameters, declared_parameters, run_monthly
from outcomes.run.config import load as load_run_config

pytestmark = pytest.mark.slow

CONFIG = config.project().params_dir / "case_study.yaml"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SECTIONS = {"itsm", "delivery", "experiment", "customer_value", "churn"}
PAGES = {
    "cs_00_overview", "cs_01_itsm", "cs_02_delivery_satisfaction", "cs_03_email_experiment",
    "cs_04_customer_value", "cs_05_churn",
}


def _variant(tmp_path: Path, **changes: object) -> Path:
    """A copy of the case-study configuration with some keys changed, reports going to ``tmp_path``."""
    doc = yaml.safe_load(CONFIG.read_text())
    doc["reports_dir"] = str(tmp_path / "reports")
    doc.update(changes)
    path = tmp_path / "case_study.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# --------------------------------------------------------------------------- configuration (fast)


def test_the_configuration_lists_the_six_notebooks_and_publishes_as_a_case_study() -> None:
    cfg = load_run_config(CONFIG)
    assert cfg.publish_as == "case-study" and cfg.pack_title.startswith("Case study")
    assert {nb.name for nb in cfg.notebooks} == PAGES
    overview = next(nb for nb in cfg.notebooks if nb.name == "cs_00_overview")
    assert set(overview.after) == PAGES - {"cs_00_overview"}
    for nb in cfg.notebooks:
        assert nb.notebook_path.parent == Path("notebooks/case_study"), nb.name
        for key, value in nb.parameters.items():
            if key.endswith("raw_dir"):
                assert value.startswith("../shared/data/"), (nb.name, key)
    assert cfg.warehouse is None and {r.path.as_posix() for r in cfg.requires} >= {"../shared/data"}


def test_every_parameter_is_declared_by_its_notebook() -> None:
    """papermill only warns about unknown parameters; the run checks them, and so does this test."""
    cfg = load_run_config(CONFIG)
    checked = 0
    for nb in cfg.notebooks:
        path = config.resolve(nb.notebook_path)
        if not path.is_file():
            continue
        check_parameters(path, nb.parameters, declared_parameters(path), f"{CONFIG.name}: {nb.name}")
        checked += 1
    assert checked >= 3


def test_an_unknown_key_is_named_with_the_valid_keys(tmp_path: Path) -> None:
    with pytest.raises(ParamsError) as info:
        load_run_config(_variant(tmp_path, publish_ass="case-study"))
    message = str(info.value)
    assert "publish_ass" in message and "publish_as" in message.split("publish_ass", 1)[1]


def test_pack_keys_need_publish_as_and_publish_as_is_a_folder_name(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match="title and description name a pack published under its own name; set publish_as"):
        load_run_config(_variant(tmp_path, publish_as=None))
    with pytest.raises(ParamsError, match="publish_as"):
        load_run_config(_variant(tmp_path, publish_as="2025-12"))


def test_missing_data_stops_the_run_before_anything_executes(tmp_path: Path) -> None:
    absent = tmp_path / "shared" / "data"
    path = _variant(tmp_path, requires=[{"path": str(absent), "help": "the public datasets; see docs/case-study.md"}])
    with pytest.raises(ParamsError) as info:
        run_monthly(path)
    message = str(info.value)
    assert "nothing was run" in message and str(absent) in message and "see docs/case-study.md" in message
    assert not (tmp_path / "reports").exists()


def test_the_real_configuration_names_the_shared_data_folder_and_where_to_get_it() -> None:
    cfg = load_run_config(CONFIG)
    root = next(r for r in cfg.requires if r.path.as_posix() == "../shared/data")
    assert "README.md" in root.help and "docs/case-study.md" in root.help


def test_a_named_pack_publishes_into_its_own_folder_beside_the_months(tmp_path: Path) -> None:
    config_path = write_config(
        tmp_path,
        f"""
        - name: ok
          path: {NOTEBOOKS / 'ok.ipynb'}
        """,
        publish_as="demo-pack",
        title='"Case study: fixture"',
        warehouse="null",
    )
    (tmp_path / "reports" / "2025-11").mkdir(parents=True)
    (tmp_path / "reports" / "2025-11" / "index.html").write_text("<p>a month</p>")
    summary = run_monthly(config_path, period="2025-11")
    folder = tmp_path / "reports" / "demo-pack"
    assert summary.index == folder / "index.html" and summary.period == "demo-pack"
    index = summary.index.read_text()
    assert "<title>Case study: fixture</title>" in index and 'href="ok.html"' in index
    doc = json.loads((folder / "results.json").read_text())
    assert doc["period"] is None and doc["findings"] == []
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["publish_as"] == "demo-pack" and manifest["data"]["source"] in ("raw_files", "none")
    archive = (tmp_path / "reports" / "index.html").read_text()
    assert 'href="2025-11/index.html"' in archive and 'href="demo-pack/index.html"' in archive
    assert (tmp_path / "reports" / "2025-11" / "index.html").read_text() == "<p>a month</p>"
    # no build left behind; the run lock file stays by design (it names the last run that held it)
    assert not [p for p in (tmp_path / "reports").iterdir() if p.name.startswith(".") and p.name != LOCK_NAME]


def test_the_personal_data_scan_reads_ids_from_data_files(tmp_path: Path) -> None:
    data = tmp_path / "customers.csv.gz"
    with gzip.open(data, "wt") as fh:
        fh.write("customerID,plan\n7590-VHVEG,basic\n5575-GNVDE,basic\n")
    page = tmp_path / "p.html"
    page.write_text("<p>Customer 5575-GNVDE left.</p>")
    hits = pii.scan([page], warehouse=None, columns=[], deny_file=None, min_length=5, data_files=[(data, ["customerID"])])
    assert [h.summary() for h in hits] == ["p.html: 1 value(s) from customers.csv.gz:customerID"]
    page.write_text("<p>27 % of basic customers left.</p>")
    assert pii.scan([page], warehouse=None, columns=[], deny_file=None, min_length=5, data_files=[(data, ["customerID"])]) == []


# --------------------------------------------------------------------------- the full run (CI, public data)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The case-study folder of one run of ``params/case_study.yaml`` on the full data."""
    if not SHARED.is_dir():
        pytest.skip(f"the public datasets are not in {SHARED} (see docs/case-study.md); the case-study run needs them")
    missing = [nb.name for nb in load_run_config(CONFIG).notebooks if not config.resolve(nb.notebook_path).is_file()]
    if missing:
        pytest.skip(f"notebooks of the pack do not exist yet: {', '.join(missing)}")
    root = tmp_path_factory.mktemp("case-study")
    summary = run_monthly(_variant(root))
    assert summary.index == root / "reports" / "case-study" / "index.html"
    return summary.index.parent


@pytest.fixture(scope="module")
def loaded(published: Path) -> dict[str, PageLoad]:
    """Every page of the pack, loaded in Chromium with the network blocked."""
    require_chromium()
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            p.name: pool.submit(load, p, screenshot=ARTIFACTS / "case-study-index.png" if p.name == "index.html" else None,
                                size="1200,2400")
            for p in sorted(published.glob("*.html"))
        }
        return {name: f.result() for name, f in futures.items()}


def test_every_page_is_published_and_listed_on_the_index(published: Path) -> None:
    assert {p.stem for p in published.glob("*.html")} == PAGES | {"index"}
    assert {p.stem for p in published.glob("*.ipynb")} == PAGES
    index = (published / "index.html").read_text()
    assert re.search(r"<title>Case study", index)
    links = [h for h in re.findall(r'href="([^"]+\.html)"', index) if not h.startswith("..")]
    assert links[0] == "cs_00_overview.html" and set(links) == {f"{p}.html" for p in PAGES}
    archive = (published.parent / "index.html").read_text()
    assert 'href="case-study/index.html"' in archive


def test_results_json_is_valid_with_findings_from_every_section(published: Path) -> None:
    results = json.loads((published / "results.json").read_text())
    jsonschema.validate(results, json.loads((config.PACKAGE_DIR / "report" / "results_schema.json").read_text()))
    assert results["period"] is None
    rows = results["findings"]
    assert {r["section"] for r in rows} == SECTIONS
    for r in rows:
        if r["ci_low"] is not None:
            assert r["ci_low"] <= r["estimate"] <= r["ci_high"], r["metric"]
    keys = [(r["section"], r["dataset"], r["metric"]) for r in rows]
    assert len(keys) == len(set(keys))
    overview = (published / "cs_00_overview.html").read_text()
    assert "No findings were recorded" not in overview
    assert sum(r["sentence"].split(" ")[0] in overview for r in rows) >= len(SECTIONS)


def _text(html: str) -> str:
    """A page's visible text: scripts, styles and tags removed."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


class _TableText(HTMLParser):
    """The header and body cells of every ``<table>`` of a page, as text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[list[str], list[list[str]]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self.tables.append(([], []))
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            head, rows = self.tables[-1]
            if not head:
                head.extend(self._row)
            else:
                rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _tables(html: str) -> list[tuple[list[str], list[list[str]]]]:
    parser = _TableText()
    parser.feed(html)
    return parser.tables


def test_itsm_page_reads_right_to_a_skeptic(published: Path) -> None:
    """Counts are whole, the change linkage is set against its placebo, the data checks name what they found."""
    text = _text((published / "cs_01_itsm.html").read_text())
    # A count with a decimal point ("8,144.0 tickets"); rates per day ("89.4 changes ... per day") are not counts.
    counted = r"(tickets?|incidents?|changes?|change-item pairs|deployments?|interactions?|items|groups|rows)\b(?! (were implemented )?(per|a) day)"
    decimal = re.search(r"\b\d[\d,]*\.\d+ " + counted, text)
    assert not decimal, text[max(decimal.start() - 80, 0):decimal.end() + 40]
    html = (published / "cs_01_itsm.html").read_text()
    whole = {"tickets", "months", "units behind it", "backlog (tickets)"}
    cells = [(h, v) for head, rows in _tables(html) for row in rows for h, v in zip(head, row) if h in whole]
    assert cells and all(re.fullmatch(r"[\d,]+", v) for _, v in cells), [c for c in cells if "." in c[1]][:5]
    assert "1,521 of them in assignment_group Group 70" in text and "most likely closed without one" in text
    assert "are preceded by one in the 7 days before" in text and "(placebo)" in text
    assert "First-contact resolution:" in text and "distinct changes" in text
    rows = [r for r in json.loads((published / "results.json").read_text())["findings"] if r["section"] == "itsm"]
    metrics = {r["metric"] for r in rows}
    assert "change_incidents_after_minus_before" in metrics and "change_failure_rate_linked" not in metrics
    assert "self_service_rate" not in metrics and "deployment_frequency" not in metrics
    for r in rows:
        if r["metric"] in ("mttr_hours", "median_time_to_resolve_hours", "ticket_volume", "backlog_size"):
            assert "Population:" in r["sentence"] and re.search(r"\d{4}-\d{2} to \d{4}-\d{2}", r["sentence"]), r["sentence"]


def test_pages_show_no_code(published: Path) -> None:
    for page in published.glob("*.html"):
        html = page.read_text()
        assert "injected-parameters" not in html, page.name
        assert not re.search(r'class="jp-Cell jp-CodeCell(?![^"]*jp-mod-noInput)', html), page.name
        assert "In&nbsp;[" not in html and "import outcomes" not in html, page.name
        assert not re.search(r"<script[^>]+src=", html) and not re.search(r"""(?:src|href)=["']https?://""", html), page.name
        assert page.stat().st_size < 5 * 1024 * 1024, page.name


def test_every_chart_renders_offline(published: Path, loaded: dict[str, PageLoad]) -> None:
    charted = 0
    for name, page in loaded.items():
        charts = (published / name).read_text().count('class="outcomes-chart"')
        assert page.dom.count('class="marks"') == charts, name
        assert page.network_requests == [] and page.console == [], name
        charted += charts
    assert charted >= 6


def test_no_customer_id_of_the_datasets_is_published(published: Path) -> None:
    import pandas as pd

    text = "\n".join(p.read_text() for p in published.iterdir() if p.suffix in (".html", ".ipynb", ".json"))
    words = set(re.findall(r"[\w-]+", text))
    telco = pd.read_csv(SHARED / "telco_customer_churn" / "Telco-Customer-Churn.csv", usecols=["customerID"])
    payments = pd.read_csv(SHARED / "olist_ecommerce_partial" / "olist_order_payments_dataset.csv.gz", usecols=["order_id"])
    sellers = pd.read_csv(SHARED / "olist_ecommerce_partial" / "olist_sellers_dataset.csv", usecols=["seller_id"])
    ids = set(telco["customerID"]) | set(payments["order_id"]) | set(sellers["seller_id"])
    assert not ids & words
    # CDNOW ids are zero-padded 5-digit numbers: look for them as whole numbers, not inside decimals (0.00276)
    cdnow = pd.read_csv(SHARED / "cdnow_transactions" / "CDNOW_master.txt.gz", sep=r"\s+", dtype=str, usecols=["customer_id"])
    numbers = set(re.findall(r"(?<![\w.,])0\d{4}(?![\w.,])", text.replace(vega_bundle(), " ")))
    assert not numbers & set(cdnow["customer_id"])


def test_customer_pages_show_whole_counts_readable_coefficients_and_their_assumptions(published: Path) -> None:
    names = ["cs_00_overview", "cs_02_delivery_satisfaction", "cs_03_email_experiment", "cs_04_customer_value", "cs_05_churn"]
    text = {name: visible_text((published / f"{name}.html").read_text()) for name in names}
    for name, page in text.items():
        assert not DECIMAL_COUNT.findall(page), (name, DECIMAL_COUNT.findall(page)[:5])
        assert not ZERO_COEF.findall(page), (name, [page[m.start() - 40:m.end() + 10] for m in ZERO_COEF.finditer(page)][:5])
    overview = " ".join(text["cs_00_overview"].split())
    assert HEADLINE_RULE in overview and "fictional data" in overview
    olist = " ".join(text["cs_02_delivery_satisfaction"].split())
    assert "The data represent orders whose review has a written comment" in olist
    assert "0.80 to 3.20 BRL per review point" in olist and "orders 1-30 days late" in olist
    assert "an ROI of roughly" in " ".join(text["cs_03_email_experiment"].split())
    assert "Like for like (repeat purchases only, 24 months" in " ".join(text["cs_04_customer_value"].split())
    churn = " ".join(text["cs_05_churn"].split())
    assert "over 3 months" in churn and "over 12 months" not in churn and "twelve months" not in churn
    assert churn.index("With controls") < churn.index("Churn rate by attribute")
