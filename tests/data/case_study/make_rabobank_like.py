"""Write synthetic service-desk exports in the columns of the BPI Challenge 2014 (Rabobank) files.

The real incident and change exports carry no licence that allows redistributing them,
so the case study's default data are generated here: ``detail_incident.csv.gz`` and
``detail_change.csv.gz`` with the real files' header, delimiter (``;``), CRLF line ends,
date formats (incidents ``dd/mm/yyyy HH:MM:SS``, changes ``d-m-yyyy H:MM``), decimal comma,
the 50 empty trailing columns of the incident file, and their value vocabularies
(priorities, item types and subtypes, statuses, closure codes, change types, risk classes).
No row comes from the real files: items, services, ids and times are drawn from a seeded
generator, with identifier numbers outside the ranges the real files use.

Planted, so that the change linkage can be checked against known numbers:

* 80 configuration items, every one with incidents and changes; about 2,000 incidents
  opened October 2013 to March 2014 and about 450 implemented change lines (change x item).
* A change line *fails* with a probability that depends on the item type (``FAILURE``);
  a failed line is followed by 1-4 incidents on its item opened 2 hours to 7 days minus
  2 hours after the change ended. Other incidents never fall within 7 days (plus 2 hours)
  after a change on their item, and changes on one item are more than 7 days apart, so the
  share of change lines followed by an incident within 7 days is exactly the share that
  failed, and the incidents opened within 7 days after a change are exactly the caused ones.
* Resolution hours are log-normal within item type and priority; incidents caused by a
  change take ``EFFECT`` (1.4) times longer: within every item type, the mean log resolution
  hours of resolved incidents opened within 7 days after a change exceed the others' by
  exactly ``ln 1.4`` (up to whole seconds and the hours that daylight-saving changes add,
  remove or move).
* The tool records half of the caused incidents (``Related Change`` on the incident,
  ``# Related Incidents`` on every line of the change), like the real tool's partial links.

Timestamps avoid 01:00-04:00 local time on the two daylight-saving days, and the 2-hour
margins keep every comparison the same after the mapping converts Dutch local time to UTC.

Run from the repository root (writes byte-identical files for a given seed)::

    .venv/bin/python tests/data/case_study/make_rabobank_like.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 2014
OUT = Path(__file__).resolve().parent / "bpi2014_rabobank_itsm"
START, END = dt.datetime(2013, 10, 1), dt.datetime(2014, 4, 1)
WINDOW = dt.timedelta(days=7)
MARGIN = dt.timedelta(hours=2)
#: Ratio of resolution times of incidents caused by a change to the others (same type and priority).
EFFECT = 1.4
#: Probability that a change line on an item of this type causes incidents.
FAILURE = {
    "application": 0.35, "subapplication": 0.35, "software": 0.25, "hardware": 0.2,
    "computer": 0.06, "storage": 0.06, "networkcomponents": 0.06,
}
#: (type, subtype, name prefix, items, incident weight, change weight, mean log resolution hours)
ITEMS = [
    ("application", "Server Based Application", "SBA", 24, 1.4, 1.0, 2.9),
    ("application", "Web Based Application", "WBA", 10, 1.4, 1.0, 2.7),
    ("subapplication", "Web Based Application", "SUB", 10, 1.0, 0.8, 2.6),
    ("subapplication", "Server Based Application", "SUB", 4, 1.0, 0.8, 2.8),
    ("computer", "Windows Server", "WSR", 8, 0.5, 1.6, 2.3),
    ("computer", "Linux Server", "LSR", 6, 0.5, 1.6, 2.2),
    ("software", "System Software", "SSW", 5, 0.7, 1.2, 2.7),
    ("hardware", "DataCenterEquipment", "DCE", 5, 0.5, 1.0, 3.0),
    ("storage", "Controller", "CNT", 4, 0.5, 1.2, 2.5),
    ("networkcomponents", "Network Component", "NET", 4, 0.5, 1.4, 2.2),
]
BACKGROUND_INCIDENTS = 1_800
#: Identifier numbers (ranges, or first numbers) above every number the real files use (items
#: up to 1989 per prefix, WBS 342, IM 47057, C 18602, KM 2365, SD 147172): no synthetic id
#: names a real item, service or record.
IDS = {
    "item": (5_000, 6_000), "service": (500, 700), "knowledge": (3_000, 5_000),
    "incident": 100_000, "change": 50_000, "interaction": 300_000,
}
CHANGE_RECORDS = 400
#: Priority: share, shift of mean log resolution hours, (impact, urgency) off the diagonal with share.
PRIORITY = {"1": (0.001, -1.5), "2": (0.015, -1.0), "3": (0.14, -0.3), "4": (0.49, 0.0), "5": (0.354, 0.3)}
OFF_DIAGONAL = {"3": [("3", "4"), ("4", "3")], "4": [("4", "5"), ("5", "4")]}
SIGMA = 1.0
CLOSURE = {
    "Other": 0.35, "Software": 0.28, "User error": 0.076, "No error - works as designed": 0.076, "Hardware": 0.064,
    "Data": 0.047, "Unknown": 0.034, "Operator error": 0.033, "User manual not used": 0.016, "": 0.014,
    "Inquiry": 0.004, "Referred": 0.003, "Questions": 0.003,
}
CATEGORY = {"incident": 0.805, "request for information": 0.1945, "complaint": 0.0005}
REASSIGNMENTS = [0.59, 0.156, 0.115, 0.047, 0.034, 0.016, 0.013, 0.007, 0.005, 0.004, 0.003]
CHANGE_TYPES = [
    "Standard Change Type 81", "Standard Change Type 91", "Standard Change Type 06", "Standard Change Type 103",
    "Standard Change Type 138", "Standard Change Type 22", "Standard Activity Type 09", "Standard Activity Type 10",
    "Standard Activity Type 02", "Standard Activity Type 04", "Standard Activity Type 54", "Release Type 09",
    "Release Type 13", "Release Type 06", "Release Type 02", "Release Type 11", "Master Change",
]
RISK = {"Minor Change": (0.94, 0.05), "Business Change": (0.056, 0.28), "Major Business Change": (0.004, 0.5)}
INCIDENT_COLUMNS = [
    "CI Name (aff)", "CI Type (aff)", "CI Subtype (aff)", "Service Component WBS (aff)", "Incident ID", "Status",
    "Impact", "Urgency", "Priority", "Category", "KM number", "Alert Status", "# Reassignments", "Open Time",
    "Reopen Time", "Resolved Time", "Close Time", "Handle Time (Hours)", "Closure Code", "# Related Interactions",
    "Related Interaction", "# Related Incidents", "# Related Changes", "Related Change", "CI Name (CBy)",
    "CI Type (CBy)", "CI Subtype (CBy)", "ServiceComp WBS (CBy)",
]
#: The incident export ends every line with 50 empty columns.
EMPTY_TRAILING = 50
CHANGE_COLUMNS = [
    "CI Name (aff)", "CI Type (aff)", "CI Subtype (aff)", "Service Component WBS (aff)", "Change ID", "Change Type",
    "Risk Assessment", "Emergency Change", "CAB-approval needed", "Planned Start", "Planned End",
    "Scheduled Downtime Start", "Scheduled Downtime End", "Actual Start", "Actual End", "Requested End Date",
    "Change record Open Time", "Change record Close Time", "Originated from", "# Related Interactions",
    "# Related Incidents",
]
DST_DAYS = (dt.date(2013, 10, 27), dt.date(2014, 3, 30))


@dataclass(frozen=True)
class Synthetic:
    """The two exports as string tables (file column order) and the planted truth.

    Parameters
    ----------
    incidents, changes : pandas.DataFrame
        One row per incident, one row per change line, every value a string as written.
    truth : dict
        ``items``, ``incidents``, ``change_lines``, ``failed_lines`` (lines followed by an
        incident within 7 days), ``caused_incidents`` (incidents opened within 7 days after a
        change on their item), ``recorded_lines`` (lines whose change record lists an
        incident), ``effect`` (planted ratio of resolution times).
    """

    incidents: pd.DataFrame
    changes: pd.DataFrame
    truth: dict


def _pick(rng: np.random.Generator, table: dict[str, float], size: int) -> np.ndarray:
    p = np.array(list(table.values()), float)
    return rng.choice(np.array(list(table), dtype=object), size=size, p=p / p.sum())


def _safe(t: dt.datetime) -> dt.datetime:
    """Move a local time out of 01:00-04:00 on a daylight-saving day (ambiguous or missing hours)."""
    if t.date() in DST_DAYS and 1 <= t.hour < 4:
        return t.replace(hour=4)
    return t


def _incident_time(t: dt.datetime) -> str:
    return t.strftime("%d/%m/%Y %H:%M:%S")


def _change_time(t: dt.datetime) -> str:
    return f"{t.day}-{t.month}-{t.year} {t.hour}:{t.minute:02d}"


def _decimal_comma(x: float) -> str:
    """Hours as the export writes them: 11 characters at most, decimal comma (``43,21833333``)."""
    whole = len(str(int(x)))
    text = f"{x:.{max(10 - whole, 0)}f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


def _office_time(rng: np.random.Generator, day: dt.datetime) -> dt.datetime:
    seconds = int(rng.uniform(7.5, 18.5) * 3600)
    return _safe(day + dt.timedelta(seconds=seconds))


def _items(rng: np.random.Generator) -> pd.DataFrame:
    services = [f"WBS{n:06d}" for n in rng.choice(np.arange(*IDS["service"]), 18, replace=False)]
    service_p = rng.dirichlet(np.full(len(services), 0.8))
    rows, used = [], set()
    for ci_type, subtype, prefix, count, inc_w, chg_w, mu in ITEMS:
        for _ in range(count):
            number = int(rng.integers(*IDS["item"]))
            while (prefix, number) in used:
                number = int(rng.integers(*IDS["item"]))
            used.add((prefix, number))
            rows.append(
                {
                    "name": f"{prefix}{number:06d}", "type": ci_type, "subtype": subtype,
                    "service": services[rng.choice(len(services), p=service_p)],
                    "incident_rate": inc_w * rng.gamma(2.0, 0.5), "change_rate": chg_w * rng.gamma(3.0, 1 / 3),
                    "mu": mu,
                }
            )
    return pd.DataFrame(rows).sort_values("name", ignore_index=True)


def _change_lines(rng: np.random.Generator, items: pd.DataFrame) -> list[dict]:
    """Change records on 1-3 items, implemented Oct 2013 - Mar 2014, more than 7 days apart per item."""
    last = END - dt.timedelta(days=8)
    span = (last - START).total_seconds()
    weights = items["change_rate"].to_numpy() / items["change_rate"].sum()
    taken: dict[str, list[dt.datetime]] = {name: [] for name in items["name"]}
    records = []
    first = rng.permutation(len(items))  # every item gets at least one change
    while len(records) < CHANGE_RECORDS:
        end = _safe((START + dt.timedelta(seconds=float(rng.uniform(0, span)))).replace(second=0, microsecond=0))
        if len(records) < len(items):
            chosen = first[len(records) : len(records) + 1]
        else:
            size = int(rng.choice([1, 2, 3], p=[0.82, 0.12, 0.06]))
            chosen = rng.choice(len(items), size, replace=False, p=weights)
        names = [items.at[i, "name"] for i in chosen]
        if any(abs(end - other) <= WINDOW + 2 * MARGIN for n in names for other in taken[n]):
            continue
        for n in names:
            taken[n].append(end)
        records.append((end, sorted(chosen)))
    records.sort(key=lambda r: r[0])
    lines = []
    number = IDS["change"]
    for end, chosen in records:
        number += int(rng.integers(5, 60))
        opened = _safe((end - dt.timedelta(hours=float(rng.lognormal(math.log(120), 1.0)) + 1)).replace(second=0))
        start = _safe(end - dt.timedelta(minutes=int(rng.integers(15, 480))))
        planned_start = _safe(start.replace(minute=0) - dt.timedelta(hours=int(rng.integers(0, 3))))
        planned_end = _safe(
            max(end.replace(minute=0) + dt.timedelta(hours=int(rng.integers(0, 4))), planned_start + dt.timedelta(hours=1))
        )
        requested = planned_end + dt.timedelta(days=int(rng.integers(0, 15)))
        requested = _safe(requested.replace(hour=int(rng.choice([0, 18]))))
        closed = _safe(end + dt.timedelta(minutes=int(rng.integers(2, 14 * 24 * 60))))
        risk = str(_pick(rng, {k: v[0] for k, v in RISK.items()}, 1)[0])
        downtime = rng.random() < 0.03
        record = {
            "Change ID": f"C{number:08d}",
            "Change Type": str(rng.choice(CHANGE_TYPES)),
            "Risk Assessment": risk,
            "Emergency Change": "Y" if rng.random() < 0.005 else "N",
            "CAB-approval needed": "Y" if rng.random() < RISK[risk][1] else "N",
            "Planned Start": _change_time(planned_start),
            "Planned End": _change_time(planned_end),
            "Scheduled Downtime Start": _change_time(start) if downtime else "",
            "Scheduled Downtime End": _change_time(end) if downtime else "",
            "Actual Start": _change_time(start),
            "Actual End": _change_time(end),
            "Requested End Date": _change_time(requested),
            "Change record Open Time": _change_time(opened),
            "Change record Close Time": _change_time(closed),
            "Originated from": str(_pick(rng, {"Problem": 0.64, "Incident": 0.357, "Interaction": 0.003}, 1)[0]),
            "# Related Interactions": "",
        }
        for i in chosen:
            lines.append({**record, "_item": int(i), "_end": end})
    return lines


def _background_times(rng: np.random.Generator, n: int, blocked: list[dt.datetime]) -> list[dt.datetime]:
    """Office-hour opening times (weekdays mostly) outside every blocked window after a change."""
    days = pd.date_range(START, END - dt.timedelta(days=1), freq="D").to_pydatetime()
    day_p = np.where([d.weekday() < 5 for d in days], 1.0, 0.15)
    day_p /= day_p.sum()
    times: list[dt.datetime] = []
    while len(times) < n:
        t = _office_time(rng, days[rng.choice(len(days), p=day_p)])
        if not any(b - MARGIN < t <= b + WINDOW + MARGIN for b in blocked):
            times.append(t)
    return times


def build(seed: int = SEED) -> Synthetic:
    """Draw the synthetic items, change lines and incidents.

    Parameters
    ----------
    seed : int
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same files.

    Returns
    -------
    Synthetic
        Both exports and the planted truth.
    """
    rng = np.random.default_rng(seed)
    items = _items(rng)
    lines = _change_lines(rng, items)
    incident_rate = items["incident_rate"].to_numpy() / items["incident_rate"].sum()
    counts = rng.multinomial(BACKGROUND_INCIDENTS, incident_rate)
    # (item index, opened at, caused by line index or -1)
    opened: list[tuple[int, dt.datetime, int]] = []
    for i, n in enumerate(counts):  # at least 3 per item, so every item has incidents
        blocked = [line["_end"] for line in lines if line["_item"] == i]
        opened += [(i, t, -1) for t in _background_times(rng, int(max(n, 3)), blocked)]
    failed = np.zeros(len(lines), bool)
    for k, line in enumerate(lines):
        if rng.random() < FAILURE[items.at[line["_item"], "type"]]:
            failed[k] = True
            for _ in range(1 + min(int(rng.poisson(1.0)), 3)):
                t = line["_end"]
                while t == line["_end"] or _safe(t) != t:
                    delay = rng.uniform(MARGIN.total_seconds(), (WINDOW - MARGIN).total_seconds())
                    t = line["_end"] + dt.timedelta(seconds=round(float(delay)))
                opened.append((line["_item"], t, k))
    opened.sort(key=lambda r: r[1])
    n = len(opened)
    item_idx = np.array([r[0] for r in opened])
    caused_by = np.array([r[2] for r in opened])
    caused = caused_by >= 0
    recorded = caused & (rng.random(n) < 0.5)

    priority = _pick(rng, {k: v[0] for k, v in PRIORITY.items()}, n)
    impact, urgency = priority.copy(), priority.copy()
    for p, pairs in OFF_DIAGONAL.items():
        off = np.flatnonzero((priority == p) & (rng.random(n) < 0.03))
        choice = rng.integers(0, len(pairs), len(off))
        impact[off] = [pairs[c][0] for c in choice]
        urgency[off] = [pairs[c][1] for c in choice]
    shift = np.array([PRIORITY[p][1] for p in priority])
    resolved = rng.random(n) >= 0.015
    base = pd.DataFrame(
        {
            "type": items["type"].to_numpy()[item_idx], "caused": caused,
            "y": items["mu"].to_numpy()[item_idx] + shift + rng.normal(0, SIGMA, n),
        }
    )
    # Every item type's resolved incidents get the same mean log hours with and without a
    # preceding change before the effect is added: the planted difference holds exactly in
    # the file, not only in expectation.
    cell = base[resolved].groupby(["type", "caused"])["y"].mean()
    level = base[resolved].groupby("type")["y"].mean()
    keys = pd.MultiIndex.from_arrays([base["type"], base["caused"]])
    centre = cell.reindex(keys).fillna(level.reindex(base["type"]).set_axis(keys)).to_numpy()
    log_hours = base["y"].to_numpy() - centre + level.reindex(base["type"]).to_numpy() + math.log(EFFECT) * caused
    hours = np.exp(log_hours)
    reopened = resolved & (rng.random(n) < 0.05)
    cby_other = rng.random(n) < 0.15
    cby_missing = rng.random(n) < 0.024
    interactions = rng.choice(["1", "2", "3", ""], n, p=[0.92, 0.065, 0.0125, 0.0025])
    km_pool = [f"KM{k:07d}" for k in rng.choice(np.arange(*IDS["knowledge"]), 150, replace=False)]
    related_incidents = np.where(rng.random(n) < 0.023, rng.choice(["1", "1", "1", "2", "3"], n), "")
    numbers = IDS["incident"] + np.cumsum(rng.integers(1, 40, n))
    sd_numbers = IDS["interaction"] + np.cumsum(rng.integers(1, 60, n))
    rows = []
    for j, (i, t, k) in enumerate(opened):
        item = items.iloc[i]
        res_at = _safe(t + dt.timedelta(seconds=max(round(hours[j] * 3600), 60)))
        # Most incidents are closed within minutes of their resolution, some days later.
        lag = rng.integers(3, 600) if rng.random() < 0.8 else rng.integers(600, 5 * 86400)
        close_at = _safe(res_at + dt.timedelta(seconds=int(lag)))
        reopen_at = _safe(t + (res_at - t) * float(rng.uniform(0.3, 0.9))) if reopened[j] else None
        if cby_missing[j]:
            cby = ("#N/B", "#N/B", "#N/B", "#N/B")
        else:
            other = items.iloc[int(rng.integers(len(items)))] if cby_other[j] else item
            cby = (other["name"], other["type"], other["subtype"], other["service"])
        inter = interactions[j]
        rows.append(
            {
                "CI Name (aff)": item["name"], "CI Type (aff)": item["type"], "CI Subtype (aff)": item["subtype"],
                "Service Component WBS (aff)": item["service"], "Incident ID": f"IM{numbers[j]:07d}",
                "Status": "Closed",
                "Impact": impact[j], "Urgency": urgency[j], "Priority": priority[j],
                "Category": str(_pick(rng, CATEGORY, 1)[0]), "KM number": str(rng.choice(km_pool)),
                "Alert Status": "closed",
                "# Reassignments": str(rng.choice(len(REASSIGNMENTS), p=np.array(REASSIGNMENTS) / sum(REASSIGNMENTS))),
                "Open Time": _incident_time(t),
                "Reopen Time": _incident_time(reopen_at) if reopen_at else "",
                "Resolved Time": _incident_time(res_at) if resolved[j] else "",
                "Close Time": _incident_time(close_at),
                "Handle Time (Hours)": _decimal_comma(hours[j] * float(rng.uniform(0.02, 1.0))),
                "Closure Code": str(_pick(rng, CLOSURE, 1)[0]),
                "# Related Interactions": inter,
                "Related Interaction": {"": "#N/B", "1": f"SD{sd_numbers[j]:07d}"}.get(inter, "#MULTIVALUE"),
                "# Related Incidents": related_incidents[j],
                "# Related Changes": "1" if recorded[j] else "",
                "Related Change": lines[k]["Change ID"] if recorded[j] else "",
                "CI Name (CBy)": cby[0], "CI Type (CBy)": cby[1], "CI Subtype (CBy)": cby[2],
                "ServiceComp WBS (CBy)": cby[3],
            }
        )
    incidents = pd.DataFrame(rows, columns=INCIDENT_COLUMNS)

    per_change = pd.Series(lines[k]["Change ID"] for k in caused_by[recorded]).value_counts()
    change_rows = []
    for line in lines:
        item = items.iloc[line["_item"]]
        count = per_change.get(line["Change ID"], 0)
        change_rows.append(
            {
                **{c: line[c] for c in CHANGE_COLUMNS if c in line},
                "CI Name (aff)": item["name"], "CI Type (aff)": item["type"], "CI Subtype (aff)": item["subtype"],
                "Service Component WBS (aff)": item["service"], "# Related Incidents": str(count) if count else "",
            }
        )
    changes = pd.DataFrame(change_rows, columns=CHANGE_COLUMNS)
    truth = {
        "items": int(incidents["CI Name (aff)"].nunique()),
        "incidents": n,
        "change_lines": len(lines),
        "failed_lines": int(failed.sum()),
        "caused_incidents": int(caused.sum()),
        "recorded_lines": int((changes["# Related Incidents"] != "").sum()),
        "effect": EFFECT,
    }
    return Synthetic(incidents, changes, truth)


def _text(frame: pd.DataFrame, trailing: int = 0) -> str:
    pad = ";" * trailing
    lines = [";".join(frame.columns) + pad] + [";".join(row) + pad for row in frame.itertuples(index=False)]
    return "".join(line + "\r\n" for line in lines)


def texts(synthetic: Synthetic) -> dict[str, str]:
    """The two files' contents (CRLF, ASCII) by file name."""
    return {
        "detail_incident.csv.gz": _text(synthetic.incidents, EMPTY_TRAILING),
        "detail_change.csv.gz": _text(synthetic.changes),
    }


def write(out: Path, synthetic: Synthetic) -> list[Path]:
    """Write both files gzip-compressed like ``gzip -9 -n`` (no name, no time stamp)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in texts(synthetic).items():
        path = out / name
        with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(text.encode("ascii"))
        paths.append(path)
    return paths


def main() -> None:
    """Command line: write the files and print the planted numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    synthetic = build(args.seed)
    for path in write(args.out, synthetic):
        print(f"{path} {path.stat().st_size:,} bytes")
    print(synthetic.truth)


if __name__ == "__main__":
    main()
