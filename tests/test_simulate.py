"""The demo company simulator: deterministic exports, documented layouts, and planted truths
recomputed naively from the raw export rows with pandas (never through the warehouse)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from outcomes.warehouse.datamodel import TABLES
from outcomes.errors import ParamsError
from outcomes.simulate import Planted, generate
from outcomes.ingest.sources import load_sources

REPO = Path(__file__).resolve().parents[1]
SCALE = 0.5
SEED = 42
Z = stats.norm.ppf(0.975)

#: The documented exports and their columns (docs/demo-company.md).
EXPORT_COLUMNS = {
    "tickets/tickets_2024-01.csv": [
        "number", "opened_at", "u_first_response_at", "resolved_at", "caller_id", "u_requester_type", "cmdb_ci",
        "category", "priority", "contact_type", "location", "assignment_group", "reassignment_count", "reopen_count",
        "u_first_contact_resolution", "u_sla_target_hours", "made_sla",
    ],
    "incidents.csv": [
        "incident", "service", "started", "restored", "outage_min", "severity", "caused_by_deployment", "affected_region",
    ],
    "deployments.csv": ["id", "service", "environment", "finished_at", "lead_time_hours", "status", "restored_at"],
    "it_costs.csv": ["period", "cost_centre", "cost_line", "amount_eur"],
    "employee_survey.csv": ["Response ID", "Employee ID", "Submitted", "IT satisfaction", "Region"],
    "ticket_surveys.csv": ["Response ID", "Ticket", "Respondent", "Submitted", "Happiness", "Lost time (min)"],
    "customers.parquet": [
        "customer_no", "full_name", "email_address", "segment", "sales_region", "lead_source", "customer_since",
    ],
    "orders/orders_2024-01.parquet": ["order_number", "customer_no", "order_ts", "net_amount_eur", "gross_margin_eur"],
    "surveys.parquet": ["response_id", "customer_no", "submitted_at", "question", "answer"],
    "churn.csv": ["customer_no", "churn_date", "churn_reason"],
    "campaigns.csv": ["campaign_id", "month", "campaign_name", "channel", "region", "spend_eur", "sessions", "conversions"],
    "service_map.csv": ["service_name", "customer_journey", "business_capability", "region", "customer_facing"],
    "initiatives.csv": [
        "ID", "Initiative", "Hypothesis", "Evaluation design", "Unit", "Treated units", "Start", "One-off cost (EUR)",
        "Run cost per month (EUR)", "Primary metric", "Guardrails", "Active",
    ],
    "assignments.parquet": ["experiment_id", "customer_no", "variant", "assigned_date"],
}


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, keep_default_na=False, na_values=[""])


def _digest(folder: Path) -> dict[str, str]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate(out, scale=SCALE, seed=SEED)
    return out


@pytest.fixture(scope="module")
def truth(demo: Path) -> dict:
    return json.loads((demo / "ground_truth.json").read_text())


@pytest.fixture(scope="module")
def tickets(demo: Path) -> pd.DataFrame:
    frames = [pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in sorted((demo / "tickets").glob("*.csv"))]
    df = pd.concat(frames, ignore_index=True)
    for col in ("opened_at", "u_first_response_at", "resolved_at"):
        df[col] = pd.to_datetime(df[col], format="%Y-%m-%d %H:%M:%S")
    df["month"] = df["opened_at"].dt.to_period("M")
    df["region"] = df["location"].str.lower()
    df["first_response_h"] = (df["u_first_response_at"] - df["opened_at"]).dt.total_seconds() / 3600
    df["self_service"] = df["contact_type"].isin(["Self-service", "Virtual Agent"])
    return df


@pytest.fixture(scope="module")
def customers(demo: Path) -> pd.DataFrame:
    cust = pd.read_parquet(demo / "customers.parquet")
    churn = pd.read_csv(demo / "churn.csv")
    churn["churn_date"] = pd.to_datetime(churn["churn_date"], format="%d/%m/%Y")
    cust = cust.merge(churn[["customer_no", "churn_date"]], on="customer_no", how="left")
    cust["customer_since"] = pd.to_datetime(cust["customer_since"])
    return cust


def _active_at_start(customers: pd.DataFrame, month: pd.Period) -> pd.Series:
    start = month.to_timestamp()
    return (customers["customer_since"] < start) & ~(customers["churn_date"] < start)


@pytest.fixture(scope="module")
def panel(demo: Path, tickets: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """The region x month panel computed from the raw rows: mean first response, csat, churn rate."""
    cust_tickets = tickets[(tickets["u_requester_type"] == "customer") & tickets["first_response_h"].notna()]
    x = cust_tickets.groupby(["region", "month"])["first_response_h"].mean().rename("x")
    surveys = pd.read_parquet(demo / "surveys.parquet")
    csat = surveys[surveys["question"] == "CSAT"].merge(customers[["customer_no", "sales_region"]], on="customer_no")
    csat["month"] = csat["submitted_at"].dt.to_period("M")
    csat_share = (csat["answer"] >= 4).groupby([csat["sales_region"].rename("region"), csat["month"]]).mean().rename("csat")
    rows = []
    for month in x.index.get_level_values("month").unique():
        at_risk = customers[_active_at_start(customers, month)]
        churned = at_risk["churn_date"].dt.to_period("M") == month
        rate = churned.groupby(at_risk["sales_region"]).mean()
        rows += [{"region": r, "month": month, "churn": v} for r, v in rate.items()]
    churn = pd.DataFrame(rows).set_index(["region", "month"])["churn"]
    out = pd.concat([x, csat_share, churn], axis=1).reset_index()
    out["month"] = out["month"].astype(str)
    return out


# --- determinism, files and columns ------------------------------------------------------------


def test_same_seed_writes_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    generate(tmp_path / "a", scale=0.05, seed=7)
    generate(tmp_path / "b", scale=0.05, seed=7)
    generate(tmp_path / "c", scale=0.05, seed=8)
    a, b, c = (_digest(tmp_path / name) for name in "abc")
    assert a == b
    assert a.keys() == c.keys()
    assert a["tickets/tickets_2025-06.csv"] != c["tickets/tickets_2025-06.csv"]
    assert a["customers.parquet"] != c["customers.parquet"]


def test_every_export_is_written_with_the_documented_columns(demo: Path) -> None:
    for name, columns in EXPORT_COLUMNS.items():
        assert list(_read(demo / name).columns) == columns, name
    assert len(list((demo / "tickets").glob("tickets_*.csv"))) == 24
    assert len(list((demo / "orders").glob("orders_*.parquet"))) == 24
    assert not (demo / ".demo-partial").exists()
    doc = (REPO / "docs" / "demo-company.md").read_text()
    for name, columns in EXPORT_COLUMNS.items():
        assert Path(name).name.split("_20")[0].removesuffix(Path(name).suffix) in doc, name
        for col in columns:
            assert f"`{col}`" in doc, f"{name}: column {col} is not documented"


def test_ticket_export_follows_the_servicenow_layout(tickets: pd.DataFrame) -> None:
    assert tickets["number"].is_unique and tickets["number"].str.fullmatch(r"INC\d{8}").all()
    assert set(tickets["priority"]) == {"1 - Critical", "2 - High", "3 - Moderate", "4 - Low"}
    assert set(tickets["contact_type"]) == {"Phone", "Email", "Chat", "Self-service", "Virtual Agent", "Walk-in"}
    assert set(tickets["u_requester_type"]) == {"customer", "employee"}
    assert set(tickets["made_sla"]) == {True, False} and set(tickets["u_first_contact_resolution"]) == {True, False}
    assert set(tickets["location"]) == {"North", "South", "East", "West", "Central"}
    assert not (tickets["u_first_response_at"] < tickets["opened_at"]).any()
    assert not (tickets["resolved_at"] < tickets["u_first_response_at"]).any()
    assert (tickets["u_first_response_at"].isna() <= tickets["resolved_at"].isna()).all()
    still_open = tickets["resolved_at"].isna()
    assert 0 < still_open.sum() < 0.02 * len(tickets)
    assert (tickets.loc[still_open, "opened_at"] >= "2025-01-01").mean() > 0.5
    assert tickets.loc[tickets["u_first_contact_resolution"], "reassignment_count"].eq(0).all()
    assert 2.5 < tickets.loc[tickets["u_requester_type"] == "customer", "first_response_h"].mean() < 4.5
    assert 0.6 < tickets["made_sla"].mean() < 0.95


def test_churned_customers_raise_nothing_after_their_last_day(
    demo: Path, tickets: pd.DataFrame, customers: pd.DataFrame
) -> None:
    last = customers.set_index("customer_no")["churn_date"].dropna()
    t = tickets[tickets["caller_id"].isin(last.index)]
    assert (t["opened_at"].dt.normalize() <= t["caller_id"].map(last)).all()
    orders = pd.concat(pd.read_parquet(p) for p in sorted((demo / "orders").glob("*.parquet")))
    o = orders[orders["customer_no"].isin(last.index)]
    assert (o["order_ts"].dt.normalize() <= o["customer_no"].map(last)).all()
    signup = customers.set_index("customer_no")["customer_since"]
    assert (orders["order_ts"].dt.normalize() >= orders["customer_no"].map(signup)).all()
    assert pd.read_csv(demo / "churn.csv")["customer_no"].is_unique


def test_customer_pii_is_synthetic_and_absent_from_the_ground_truth(demo: Path, customers: pd.DataFrame) -> None:
    assert customers["email_address"].str.fullmatch(r"[a-z]+\.[a-z]+\.c\d{8}@example\.com").all()
    assert customers["customer_no"].is_unique
    text = (demo / "ground_truth.json").read_text()
    assert not re.search(r"C\d{8}|E\d{6}|@", text)
    for name in customers["full_name"].head(200):
        assert name not in text


def test_ground_truth_has_the_contract_shape(truth: dict) -> None:
    assert truth["seed"] == SEED and truth["scale"] == SCALE
    assert (truth["period_start"], truth["period_end"], truth["currency"]) == ("2024-01", "2025-12", "EUR")
    assert truth["regions"] == ["north", "south", "east", "west", "central"]
    assert truth["segments"] == ["consumer", "smb", "enterprise"]
    links = truth["links"]
    assert links["panel"] == "region x month" and links["csat_per_hour"] < 0 < links["churn_rate_per_hour"]
    by_id = {i["id"]: i for i in truth["initiatives"]}
    portal, chatbot, releases = by_id["self-service-portal"], by_id["chatbot"], by_id["faster-releases"]
    assert (portal["design"], portal["unit"], portal["start_date"]) == ("randomized", "customer", "2025-07-01")
    assert portal["arms"] == {"control": 0.5, "portal": 0.5} and portal["control"] == "control"
    effects = {e["metric"]: e for e in portal["effects"]}
    assert (effects["self_service_rate"]["control"], effects["self_service_rate"]["treatment"]) == (0.21, 0.27)
    assert effects["self_service_rate"]["abs"] == pytest.approx(0.06)
    assert effects["tickets_per_customer"]["abs"] < 0 and effects["csat"]["abs"] == 0.0
    assert (chatbot["design"], chatbot["unit"], chatbot["treated_units"], chatbot["start_date"]) == (
        "did", "region", ["north", "east"], "2025-03-01",
    )
    assert chatbot["effects"][0]["metric"] == "first_response_mean_hours" and chatbot["effects"][0]["abs"] < 0
    assert (releases["design"], releases["unit"], releases["start_date"]) == ("its", "service", "2025-01-01")
    assert releases["effects"][0]["metric"] == "lead_time_hours" and releases["effects"][0]["abs"] < 0


def test_registers_join_the_exports(demo: Path, tickets: pd.DataFrame, truth: dict) -> None:
    smap = pd.read_csv(demo / "service_map.csv")
    assert set(tickets["cmdb_ci"]) <= set(smap["service_name"])
    assert len(smap) == smap["service_name"].nunique() * 5
    register = pd.read_csv(demo / "initiatives.csv")
    assert list(register["ID"]) == [i["id"] for i in truth["initiatives"]]
    assigned = pd.read_parquet(demo / "assignments.parquet")
    assert assigned["customer_no"].is_unique and set(assigned["variant"]) == {"control", "portal"}
    n = len(assigned)
    share = (assigned["variant"] == "portal").mean()
    assert abs(share - 0.5) < 3 * np.sqrt(0.25 / n)  # no sample-ratio mismatch


# --- planted effects, recomputed from the raw rows ----------------------------------------------


def test_portal_self_service_rate_by_arm_matches_the_planted_rates(demo: Path, tickets: pd.DataFrame, truth: dict) -> None:
    assigned = pd.read_parquet(demo / "assignments.parquet")
    post = tickets[(tickets["opened_at"] >= "2025-07-01") & (tickets["u_requester_type"] == "customer")]
    post = post.merge(assigned, left_on="caller_id", right_on="customer_no")
    planted = {e["metric"]: e for e in truth["initiatives"][0]["effects"]}["self_service_rate"]
    for arm, expected in (("control", planted["control"]), ("portal", planted["treatment"])):
        share = post.loc[post["variant"] == arm, "self_service"]
        half = Z * np.sqrt(share.mean() * (1 - share.mean()) / len(share))
        assert abs(share.mean() - expected) < half, (arm, share.mean(), expected, half)
    pre = tickets[(tickets["opened_at"] < "2025-07-01") & (tickets["u_requester_type"] == "customer")]["self_service"]
    assert abs(pre.mean() - planted["control"]) < Z * np.sqrt(0.21 * 0.79 / len(pre))


def test_portal_deflects_tickets_per_customer_month(
    demo: Path, tickets: pd.DataFrame, customers: pd.DataFrame, truth: dict
) -> None:
    """Tickets per customer-month over months the customer began as a customer, ratio estimator with its linearised CI."""
    assigned = pd.read_parquet(demo / "assignments.parquet").merge(customers, on="customer_no")
    cust_tickets = tickets[tickets["u_requester_type"] == "customer"]
    counts = cust_tickets.groupby(["caller_id", "month"]).size()
    per_arm = {arm: [] for arm in ("control", "portal")}
    for month in pd.period_range("2025-07", "2025-12", freq="M"):
        active = assigned[_active_at_start(assigned, month)]
        n = counts.reindex(pd.MultiIndex.from_arrays([active["customer_no"], [month] * len(active)]), fill_value=0)
        for arm in per_arm:
            per_arm[arm].append(pd.Series(n.to_numpy()[(active["variant"] == arm).to_numpy()]))
    planted = {e["metric"]: e for e in truth["initiatives"][0]["effects"]}["tickets_per_customer"]
    rates, variances = {}, {}
    for arm, parts in per_arm.items():
        y = pd.concat(parts)
        rates[arm], variances[arm] = y.mean(), y.var(ddof=1) / len(y)
    for arm, key in (("control", "control"), ("portal", "treatment")):
        assert abs(rates[arm] - planted[key]) < Z * np.sqrt(variances[arm]), (arm, rates[arm], planted[key])
    diff = rates["portal"] - rates["control"]
    se = np.sqrt(variances["portal"] + variances["control"])
    assert abs(diff - planted["abs"]) < Z * se
    assert diff + Z * se < 0  # the deflection is detectable


def test_portal_leaves_csat_unchanged(demo: Path) -> None:
    surveys = pd.read_parquet(demo / "surveys.parquet")
    assigned = pd.read_parquet(demo / "assignments.parquet")
    post = surveys[(surveys["question"] == "CSAT") & (surveys["submitted_at"] >= "2025-07-01")]
    post = post.merge(assigned, on="customer_no")
    sat = (post["answer"] >= 4).groupby(post["variant"]).agg(["mean", "count"])
    diff = sat.loc["portal", "mean"] - sat.loc["control", "mean"]
    se = np.sqrt((sat["mean"] * (1 - sat["mean"]) / sat["count"]).sum())
    assert abs(diff) < Z * se


def test_chatbot_did_on_region_month_first_response(panel: pd.DataFrame, truth: dict) -> None:
    chatbot = truth["initiatives"][1]
    treated_post = panel["region"].isin(chatbot["treated_units"]) & (panel["month"] >= chatbot["start_date"][:7])
    df = panel.assign(treated_post=treated_post)
    fit = smf.ols("x ~ treated_post + C(region) + C(month)", data=df).fit()
    lo, hi = fit.conf_int().loc["treated_post[T.True]"]
    assert lo < chatbot["effects"][0]["abs"] < hi, (lo, hi)
    assert hi < 0


def test_faster_releases_its_level_drop_in_lead_time(demo: Path, truth: dict) -> None:
    dep = pd.read_csv(demo / "deployments.csv")
    dep["month"] = pd.to_datetime(dep["finished_at"], format="%Y-%m-%dT%H:%M:%SZ").dt.to_period("M")
    monthly = dep.groupby("month")["lead_time_hours"].mean().reset_index()
    releases = truth["initiatives"][2]
    monthly["t"] = np.arange(len(monthly))
    monthly["post"] = (monthly["month"].astype(str) >= releases["start_date"][:7]).astype(int)
    fit = smf.ols("lead_time_hours ~ t + post", data=monthly).fit()
    lo, hi = fit.conf_int().loc["post"]
    assert lo < releases["effects"][0]["abs"] < hi, (lo, hi)
    assert hi < 0
    failed = dep["status"].eq("failed").groupby(monthly.set_index("month")["post"].reindex(dep["month"]).to_numpy()).mean()
    assert abs(failed[1] - failed[0]) < 0.05  # change failure rate: no planted change


@pytest.mark.parametrize(("outcome", "key"), [("csat", "csat_per_hour"), ("churn", "churn_rate_per_hour")])
def test_fixed_effects_regression_recovers_the_planted_links(
    panel: pd.DataFrame, truth: dict, outcome: str, key: str
) -> None:
    """OLS of the region-month outcome on mean first response with region and month fixed effects."""
    assert len(panel) == 120 and panel.notna().all().all()
    fit = smf.ols(f"{outcome} ~ x + C(region) + C(month)", data=panel).fit()
    lo, hi = fit.conf_int().loc["x"]
    slope = truth["links"][key]
    assert lo < slope < hi, (fit.params["x"], lo, hi, slope)
    # The links are modest by design (docs/demo-company.md): at this half scale the CSAT slope
    # lies about three standard errors from zero and the churn slope about two.
    assert abs(slope) / fit.bse["x"] > {"csat": 2.5, "churn": 1.5}[outcome]


def test_panel_magnitudes_look_plausible(panel: pd.DataFrame) -> None:
    assert 2.0 < panel["x"].mean() < 4.5
    assert 0.7 < panel["csat"].mean() < 0.9
    assert 0.01 < panel["churn"].mean() < 0.03


# --- scale and arguments -------------------------------------------------------------------------


def test_ticket_count_grows_in_proportion_to_scale(tmp_path: Path, demo: Path) -> None:
    small = generate(tmp_path / "small", scale=0.1, seed=SEED)
    full = sum(len(pd.read_csv(p, usecols=["number"])) for p in (demo / "tickets").glob("*.csv"))
    ratio = small.rows("tickets/") / full
    assert abs(ratio - 0.1 / SCALE) < 0.02
    table = small.to_table()
    assert table.row_count == len(small.files) + 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": 0}, "scale must be a number in"),
        ({"scale": -1.0}, "scale must be a number in"),
        ({"seed": -3}, "seed must be a non-negative integer"),
        ({"planted": Planted(portal_start="2025-07-15")}, "first day of a month"),
        ({"planted": Planted(chatbot_regions=("nord",))}, "are not regions"),
    ],
)
def test_bad_arguments_are_refused_with_a_helpful_message(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ParamsError, match=message):
        generate(tmp_path, **{"scale": 0.01, "seed": 1, **kwargs})
    assert not any(tmp_path.iterdir())


# --- the source mappings --------------------------------------------------------------------------


def test_sources_yaml_maps_every_export_onto_its_canonical_table(demo: Path) -> None:
    """Every export is matched by one entry (presets applied) whose mapped columns exist in its header."""
    cfg = load_sources(REPO / "params" / "sources.yaml")
    assert cfg.raw_dir == "data/raw"
    mapped = set()
    for name, source in cfg.sources.items():
        table = TABLES[source.table]
        files = sorted(demo.glob(source.path))
        assert files, f"{name}: no export matches {source.path}"
        mapped |= {str(f.relative_to(demo)) for f in files}
        header = list(_read(files[0]).columns)
        for canonical, export in source.columns.items():
            assert canonical in table.column_names, (name, canonical)
            assert export in header, (name, export)
        for canonical, sql in source.derive.items():
            assert canonical in table.column_names, (name, canonical)
            for quoted in re.findall(r'"([^"]+)"', sql):
                assert quoted in header, (name, quoted)
        for canonical in [*source.dates, *source.values, *source.constants]:
            assert canonical in table.column_names, (name, canonical)
        required = {c.name for c in table.columns if c.required}
        assert required <= set(source.columns) | set(source.derive) | set(source.constants), (name, required)
    exports = {str(p.relative_to(demo)) for p in demo.rglob("*") if p.is_file()} - {"ground_truth.json"}
    assert exports == mapped
