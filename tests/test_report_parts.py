"""The report toolkit's parts, without kernels: escaping, tables, charts, results, checks, publishing."""

from __future__ import annotations

import json
import logging.config
import os
import re
from pathlib import Path

import altair as alt
import duckdb
import nbformat
import pandas as pd
import pytest

from outcomes.errors import ReportRunError
from outcomes.run import html as report_html
from outcomes.report import renderer, results, tables, text, theme
from outcomes.run import pii
from outcomes.run import monthly, publish

XSS = "<script>alert(1)</script>"


def scorecard_row(**change: object) -> dict:
    row = {"metric": "csat", "segment": "smb", "value": 0.8, "previous": 0.78, "target": 0.82, "status": "at_risk", "unit": "fraction"}
    return {**row, **change}


# --------------------------------------------------------------------------- text and tables


def test_md_escapes_values_but_not_the_template() -> None:
    out = text.md("## Review of {name} ({share:.0%})", name=XSS + " [x](javascript:alert(1))", share=0.25).data
    assert out.startswith("## Review of &lt;script&gt;alert\\(1\\)&lt;/script&gt; \\[x\\]\\(javascript:alert\\(1\\)\\)")
    assert out.endswith("(25%)")
    assert "<" not in out.replace("&lt;", "")


def test_md_values_render_as_their_own_text() -> None:
    import mistune

    for value in ("the men's e-mail", "A&B > C", "> not a quote", "# not a heading", "*not* _emphasis_"):
        rendered = mistune.html(text.md("{v}", v=value).data).strip()
        assert rendered == "<p>" + text.escape(value).replace("&#x27;", "'").replace("&quot;", '"') + "</p>", value


def test_table_escapes_labels_and_formats_units() -> None:
    frame = pd.DataFrame({"segment": [XSS, "smb"], "csat": [0.8123, None], "revenue": [1234567.4, 10.0], "mttr_hours": [5.25, 3.0]})
    page = tables.table(frame, {"csat": "fraction", "revenue": "EUR", "mttr_hours": "hours"}, caption="<b>c</b>").data
    assert XSS not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;c&lt;/b&gt;" in page
    assert ">csat (%)</th>" in page and ">revenue (EUR)</th>" in page and ">mttr_hours (hours)</th>" in page
    assert ">81.2 %</td>" in page and ">1,234,567</td>" in page and ">5.2</td>" in page and ">–</td>" in page
    with pytest.raises(KeyError, match=r"units given for columns \['nps'\]"):
        tables.table(frame, {"nps": "count"})


def test_a_total_row_is_set_apart_only_when_the_frame_says_so() -> None:
    frame = pd.DataFrame({"initiative": ["chatbot", "portal", "All initiatives together"], "npv": [7.4, -0.2, 7.2]})
    rule = "tbody tr:last-child td"
    assert rule not in tables.table(frame).data
    frame.attrs["total_row"] = True
    page = tables.table(frame).data
    assert re.search(r"#T_\w+ tbody tr:last-child td \{\s*font-weight: 600;", page)


# --------------------------------------------------------------------------- charts


def test_house_theme_is_registered_once_and_applies() -> None:
    theme.enable()
    theme.enable()
    assert alt.theme.active == theme.THEME_NAME
    assert alt.Chart().mark_bar().to_dict()["config"]["range"]["category"] == theme.PALETTE


def test_renderer_gives_static_svg_and_a_script_that_cannot_be_closed_by_data() -> None:
    renderer.enable()
    frame = pd.DataFrame({"label": ["</script><script>alert(1)</script>", "b"], "n": [1, 2]})
    bundle = alt.Chart(frame, title="Volume").mark_bar().encode(x="label:N", y="n:Q")._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    page = bundle["text/html"]
    assert page.startswith('<div class="outcomes-chart" id="chart-') and 'aria-label="Volume"' in page
    assert '<img class="outcomes-chart-fallback" alt="Volume" src="data:image/svg+xml;base64,' in page
    script = page.split("<script>", 1)[1]
    assert script.count("</script>") == 1 and "\\u003c/script\\u003e" in script
    assert "actions:false" in script and bundle["text/plain"] == "<Chart: Volume>"


def test_vega_bundle_matches_altairs_vega_lite_version() -> None:
    bundle = report_html.vega_bundle()
    assert "window.vegaEmbed=" in bundle and "</script" not in bundle.lower()
    assert renderer.vega_lite_version() == "v" + alt.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0].replace(".", "_")


# --------------------------------------------------------------------------- results


def test_record_outside_a_run_keeps_results_in_memory_and_converts_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(results.RESULTS_PATH_ENV, raising=False)
    monkeypatch.delenv(results.RESULTS_DIR_ENV, raising=False)
    monkeypatch.setattr(results, "_memory", {})
    results.record("scorecard", pd.DataFrame([scorecard_row(value=float("nan"))]))
    results.record("headlines", "One sentence.")
    assert results.collected() == {"scorecard": [scorecard_row(value=None)], "headlines": ["One sentence."]}


def test_record_inside_a_run_writes_the_notebooks_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(results.RESULTS_PATH_ENV, str(tmp_path / "b.json"))
    monkeypatch.setenv(results.RESULTS_DIR_ENV, str(tmp_path))
    (tmp_path / "a.json").write_text(json.dumps({"headlines": ["From a."]}))
    results.record("headlines", ["From b."])
    results.record("scorecard", scorecard_row())
    assert json.loads((tmp_path / "b.json").read_text()) == {"headlines": ["From b."], "scorecard": [scorecard_row()]}
    merged = results.collected()
    assert merged["headlines"] == ["From a.", "From b."] and merged["roi"] == []


def test_record_names_the_row_the_field_and_the_valid_fields() -> None:
    with pytest.raises(ReportRunError) as info:
        results.record("scorecard", [scorecard_row(), scorecard_row(valeu=1.0)])
    msg = str(info.value)
    assert "record.scorecard[1]" in msg and "'valeu' was unexpected" in msg
    assert "valid fields are: metric, owner, previous, segment, status, target, target_basis, unit, value" in msg
    with pytest.raises(ReportRunError, match="unknown results section 'scores'; valid sections are: headlines, scorecard"):
        results.record("scores", [])
    with pytest.raises(ReportRunError, match=r"record.initiatives\[0\].design: 'ab' is not one of"):
        results.record("initiatives", {"id": "x", "design": "ab", "srm_p_value": None, "decision": "ship", "metrics": []})


def test_built_results_validate_and_a_bad_document_is_refused() -> None:
    doc = results.build([{"scorecard": [scorecard_row()]}, {"headlines": ["h"]}], "2025-12")
    assert doc["period"] == "2025-12" and doc["generated_at"].endswith("Z") and doc["roi"] == []
    with pytest.raises(ReportRunError, match=r"results.json.period: '2025-13' does not match"):
        results.validate({**doc, "period": "2025-13"})
    with pytest.raises(ReportRunError, match="'extra' was unexpected"):
        results.validate({**doc, "extra": 1})


# --------------------------------------------------------------------------- page checks and table of contents


def test_check_page_refuses_network_references_and_large_pages(tmp_path: Path) -> None:
    good = tmp_path / "good.html"
    good.write_text('<html><body><a href="ok.html">x</a><img src="data:image/png;base64,AAAA"></body></html>')
    assert report_html.check_page(good, 10_000) == []
    for snippet, what in [
        ('<script src="vega.js"></script>', "external script"),
        ('<a href="https://example.com">x</a>', "pointing at the network"),
        ('<img src="//cdn.example.com/x.png">', "pointing at the network"),
        ('<style>body{background:url("http://x/y.png")}</style>', "CSS url()"),
        ('<link rel="stylesheet" href="site.css">', "<link href"),
    ]:
        bad = tmp_path / "bad.html"
        bad.write_text(f"<html><body>{snippet}</body></html>")
        problems = report_html.check_page(bad, 10_000)
        assert problems and what in problems[0] and problems[0].startswith("bad.html: contains"), snippet
    assert "exceeds the 0.0 MB limit" in report_html.check_page(good, 10)[0]


def test_toc_lists_section_headings_with_their_anchors() -> None:
    page = (
        '<h1 id="Title">Title<a class="anchor-link" href="#Title">¶</a></h1>'
        '<h2 id="A-&amp;-B">A &amp; B<a class="anchor-link" href="#A-&amp;-B">¶</a></h2><h3 id="c">C</h3>'
    )
    found = report_html.headings(page)
    assert [(h.level, h.anchor, h.text) for h in found] == [(1, "Title", "Title"), (2, "A-&-B", "A & B"), (3, "c", "C")]
    toc = report_html.toc_html(found)
    assert '<a href="#A-&amp;-B">A &amp; B</a>' in toc and 'class="level-3"' in toc and "Title" not in toc
    # sub-headings nest under their section, so the numbered list counts sections only
    page += '<h2 id="d">D</h2><h3 id="e">E</h3><h3 id="f">F</h3><h2 id="g">G</h2>'
    toc = report_html.toc_html(report_html.headings(page))
    top = toc.split("<ol>", 1)[1].rsplit("</ol>", 1)[0]
    sections = re.findall(r'<li class="level-2"><a href="#(\w[^"]*)"', top)
    assert sections == ["A-&amp;-B", "d", "g"]
    assert '<a href="#d">D</a><ul><li class="level-3"><a href="#e">E</a></li><li class="level-3"><a href="#f">F</a></li></ul></li>' in toc
    assert toc.count("<li") == 6 and toc.count("</li>") == 6


# --------------------------------------------------------------------------- publishing


def month(folder: Path, marker: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "index.html").write_text(marker)
    return folder


def test_swap_in_replaces_a_month_and_restores_it_when_the_swap_fails(tmp_path: Path) -> None:
    target = month(tmp_path / "2025-11", "old")
    publish.swap_in(month(tmp_path / ".tmp-2025-11-1", "new"), target)
    assert (target / "index.html").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["2025-11"]
    assert (target / "history" / "1" / "index.html").read_text() == "old"  # the replaced month is kept
    with pytest.raises(FileNotFoundError):
        publish.swap_in(tmp_path / ".tmp-missing", target)  # the second rename fails
    assert (target / "index.html").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2025-11"]


def test_recover_puts_back_a_month_left_aside_by_a_killed_run(tmp_path: Path) -> None:
    dead = 2**22 + 12345  # above the default pid_max: no such process
    month(tmp_path / f".old-2025-10-{dead}", "october")
    month(tmp_path / f".tmp-2025-10-{dead}", "half-built")
    month(tmp_path / f".tmp-2025-09-{os.getppid()}", "a live run")
    publish.recover(tmp_path)
    assert (tmp_path / "2025-10" / "index.html").read_text() == "october"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".tmp-2025-09-{os.getppid()}", "2025-10"]
    # set aside after its successor was published: filed into the successor's history, not deleted
    month(tmp_path / f".old-2025-10-{dead}", "october, first version")
    publish.recover(tmp_path)
    assert (tmp_path / "2025-10" / "index.html").read_text() == "october"
    assert (tmp_path / "2025-10" / "history" / "1" / "index.html").read_text() == "october, first version"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".tmp-2025-09-{os.getppid()}", "2025-10"]


def revision(folder: Path, number: int, marker: str) -> Path:
    """A published version: its index page and a manifest recording its revision."""
    month(folder, marker)
    (folder / "manifest.json").write_text(json.dumps({"revision": number, "generated_at": f"2026-12-0{number}T14:02:00+00:00"}))
    return folder


def test_reruns_keep_every_earlier_version_in_the_months_history(tmp_path: Path) -> None:
    target = tmp_path / "2025-11"
    publish.swap_in(revision(tmp_path / ".tmp-2025-11-1", 1, "first"), target)
    assert publish.replaced_version(target) == {"revision": 1, "generated_at": "2026-12-01T14:02:00+00:00", "href": "history/1/index.html"}
    publish.swap_in(revision(tmp_path / ".tmp-2025-11-2", 2, "second"), target)
    publish.swap_in(revision(tmp_path / ".tmp-2025-11-3", 3, "third"), target)
    assert (target / "index.html").read_text() == "third"
    assert {n: (f / "index.html").read_text() for n, f in publish.history_versions(target)} == {2: "second", 1: "first"}
    assert sorted(p.name for p in (target / "history").iterdir()) == ["1", "2"]  # flat: no history inside history
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2025-11"]


@pytest.mark.parametrize("crash_at", [1, 2, 3, 4])
def test_a_crash_at_any_step_of_a_rerun_leaves_a_published_month_and_loses_no_version(
    tmp_path: Path, crash_at: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "2025-11"
    publish.swap_in(revision(tmp_path / ".tmp-2025-11-1", 1, "first"), target)
    publish.swap_in(revision(tmp_path / ".tmp-2025-11-2", 2, "second"), target)
    build = revision(tmp_path / ".tmp-2025-11-3", 3, "third")
    real_rename, calls = os.rename, []

    def crashing_rename(src: object, dst: object) -> None:  # the process dies at the n-th rename
        calls.append((src, dst))
        if len(calls) == crash_at:
            raise SystemExit("killed")
        real_rename(src, dst)

    monkeypatch.setattr(publish.os, "rename", crashing_rename)
    with pytest.raises(SystemExit):
        publish.swap_in(build, target)
    monkeypatch.setattr(publish.os, "rename", real_rename)
    publish.recover(tmp_path)  # the next run (this process's pid counts as dead here)
    published = (target / "index.html").read_text()
    kept = {n: (f / "index.html").read_text() for n, f in publish.history_versions(target)}
    assert published in {"second", "third"}
    assert sorted([published, *kept.values()]) == sorted(["first", "second"] + (["third"] if published == "third" else []))
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".old-")]


# --------------------------------------------------------------------------- personal data


def test_pii_scan_finds_whole_words_case_insensitively(tmp_path: Path) -> None:
    wh = tmp_path / "wh.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute("CREATE TABLE customers (name VARCHAR, email VARCHAR)")
        con.execute("INSERT INTO customers VALUES ('Anna  Berg', 'anna.berg@example.com'), ('Li', 'li@x.io'), (NULL, NULL)")
    page = tmp_path / "p.html"
    page.write_text("<p>Churned: ANNA BERG.</p><a href='mailto:anna.berg@example.com'>mail</a><p>Li Wei, Bergamo</p>")
    nb = tmp_path / "n.ipynb"
    nb.write_text(json.dumps({"cells": [{"outputs": [{"text": "annaberg@example.com and Berg"}]}]}))
    deny = tmp_path / "deny.txt"
    deny.write_text("Secret Project\n")
    hits = pii.scan([page, nb], warehouse=wh, columns=["customers.name", "customers.email", "customers.phone", "orders.x"],
                    deny_file=deny, min_length=5)
    assert [h.summary() for h in hits] == ["p.html: 1 value(s) from customers.name", "p.html: 1 value(s) from customers.email"]
    page.write_text("<p>secret   project</p>")
    assert [h.summary() for h in pii.scan([page], warehouse=None, columns=[], deny_file=deny, min_length=5)] == [
        "p.html: 1 value(s) from the deny-list file"
    ]


def test_pii_scan_normalises_warehouse_values_whatever_their_white_space(tmp_path: Path) -> None:
    """Tabs, line breaks and runs of spaces inside a value, or at its ends, do not hide it from the scan."""
    values = ["Anna\tBerg", " anna  BERG\n", "\r\nAnna Berg\f", "ANNA BERG", "C00042", "Ólafur  Þór", None]
    with duckdb.connect() as con:
        got = [r[0] for r in con.execute(
            f"SELECT {pii._normalised_sql('v')} FROM (SELECT unnest(?::VARCHAR[]) AS v, generate_subscripts(?::VARCHAR[], 1) AS i) "
            "ORDER BY i", [values, values]).fetchall()]
    assert got == ["anna berg", "anna berg", "anna berg", "anna berg", "c00042", "ólafur þór", None]
    wh = tmp_path / "wh.duckdb"
    with duckdb.connect(str(wh)) as con:
        con.execute("CREATE TABLE customers (customer_id VARCHAR, name VARCHAR)")
        con.execute("INSERT INTO customers VALUES ('C00042', '\tAnna\nBerg '), ('C00043', 'Li')")
    page = tmp_path / "p.html"
    page.write_text("<p>Anna Berg (c00042) churned</p>")
    hits = pii.scan([page], warehouse=wh, columns=[], deny_file=None, min_length=5)
    assert [h.summary() for h in hits] == ["p.html: 1 value(s) from customers.customer_id", "p.html: 1 value(s) from customers.name"]


def test_results_schema_doc_embeds_the_schema_file_verbatim() -> None:
    repo = Path(__file__).resolve().parents[1]
    doc = (repo / "docs" / "results-schema.md").read_text()
    embedded = doc.split("```json\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(embedded) == results.schema()
    for section in results.sections():
        assert f"`{section}`" in doc


def test_the_page_title_is_the_first_heading_the_page_shows() -> None:
    generic = nbformat.v4.new_markdown_cell("# Initiative review\n\nFor JupyterLab readers.")
    generic.metadata["tags"] = ["remove-cell"]
    printed = nbformat.v4.new_code_cell("result.heading()")
    printed.outputs = [
        nbformat.v4.new_output("display_data", data={"text/markdown": text.md("# {n}\n\nText.", n="Chat (v2) & co").data})
    ]
    later = nbformat.v4.new_markdown_cell("## Effects")
    nb = nbformat.v4.new_notebook(cells=[generic, printed, later])
    assert report_html.first_heading(nb) == "Chat (v2) & co"
    generic.metadata["tags"] = []
    assert report_html.first_heading(nb) == "Initiative review"
    nb.cells = [later, printed]  # a section before the page's own title: the level-1 heading wins
    assert report_html.first_heading(nb) == "Chat (v2) & co"
    nb.cells = [later]
    assert report_html.first_heading(nb) == "Effects"
    nb.cells = [nbformat.v4.new_code_cell("1")]
    assert report_html.first_heading(nb) is None


def test_the_run_log_records_after_other_code_disabled_existing_loggers(tmp_path: Path) -> None:
    logging.getLogger("outcomes.run.monthly")  # exists before the reconfiguration, as in a run
    loggers = [logging.getLogger(n) for n in list(logging.root.manager.loggerDict)]
    was = [(lg, lg.disabled) for lg in loggers]
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": True})  # what some tools do on start
    handler = monthly._log_to(tmp_path / "run.log")
    try:
        logging.getLogger("outcomes.run.monthly").info("run of 2025-12: started")
    finally:
        monthly._unlog(handler)
        for lg, disabled in was:  # leave the process's logging as it was for the other tests
            lg.disabled = disabled
    assert "run of 2025-12: started" in (tmp_path / "run.log").read_text(encoding="utf-8")
