"""Time of the relative-magnitudes sensitivity (Rambachan and Roth) for long windows after the start.

Three event studies, each timed for its six robust sets (``Mbar`` 0 to 2, as the review shows)
and its breakdown value, by the enumerated corners (the kit's default) and by one linear
program per point (``linear_program=True``, HonestDiD's path; the breakdown by the corners only):

* the demo chatbot (13 leads, 10 post-periods): first response by region and month from the
  demo project's tickets export (``outcomes demo`` first; skipped without it);
* the 12-post-period golden (``tests/golden/honestdid_long_window.py``);
* Benzarti and Carloni (4 and 4, ``tests/golden/honestdid_bcdata.py``).

CPU time of this process (other load on the shared machine does not count), one core.

Run: ``.venv/bin/python benchmarks/relative_magnitudes.py [--no-lp]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, before numpy loads

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from outcomes import config
from outcomes.experiment.quasi import honest
from outcomes.experiment.quasi.analysis import difference_in_differences

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "golden"))
import honestdid_bcdata  # noqa: E402
import honestdid_long_window  # noqa: E402


def chatbot_inputs() -> tuple[np.ndarray, np.ndarray, int, int] | None:
    """The demo chatbot's event study (as its review computes it), or None without the demo export."""
    import duckdb  # Imported here: only this benchmark case reads the raw export.

    raw = config.project().raw_dir
    if not (raw / "ground_truth.json").is_file():
        return None
    truth = json.loads((raw / "ground_truth.json").read_text())
    chatbot = next(i for i in truth["initiatives"] if i["id"] == "chatbot")
    panel = duckdb.sql(
        f"""
        select lower(location) as region, date_trunc('month', opened_at)::date as month,
               avg(epoch(u_first_response_at - opened_at) / 3600.0) as first_response_mean_hours
        from read_csv('{(raw / "tickets" / "tickets_*.csv").as_posix()}')
        where u_requester_type = 'customer' and u_first_response_at is not null
        group by all
        """
    ).df()
    captured = {}
    original = honest.event_study_inputs

    def capture(*args, **kwargs):
        captured["inputs"] = original(*args, **kwargs)
        return captured["inputs"]

    honest.event_study_inputs = capture
    try:
        difference_in_differences(panel, unit="region", period="month", outcome="first_response_mean_hours",
                                  treated_units=chatbot["treated_units"], start=chatbot["start_date"], placebo=False)
    finally:
        honest.event_study_inputs = original
    return captured.get("inputs")


def timed(betahat, sigma, n_pre, n_post, linear_program: bool) -> tuple[float, float, float]:
    """CPU seconds of the six sets, of the breakdown value, and the breakdown value."""
    l_vec = honest.target_weights(n_post, "average")
    start = time.process_time()
    for mbar in np.linspace(0, 2, 6):
        honest.relative_magnitudes_interval(betahat, sigma, n_pre, n_post, l_vec, float(mbar),
                                            linear_program=linear_program)
    sets = time.process_time() - start
    if linear_program:
        return sets, float("nan"), float("nan")
    start = time.process_time()
    value = honest.rm_breakdown(betahat, sigma, n_pre, n_post, l_vec)
    return sets, time.process_time() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-lp", action="store_true", help="time the enumerated corners only")
    args = parser.parse_args()
    cases = {
        "Benzarti-Carloni (4 + 4)": (honestdid_bcdata.BETAHAT, honestdid_bcdata.SIGMA, 4, 4),
        "12-post-period golden (3 + 12)": (*honestdid_long_window.inputs(), 3, 12),
    }
    chatbot = chatbot_inputs()
    if chatbot is not None:
        cases[f"demo chatbot ({chatbot[2]} + {chatbot[3]})"] = chatbot
    print("| event study | path | six sets (s) | breakdown (s) | breakdown value |")
    print("|---|---|---:|---:|---:|")
    for name, inputs in cases.items():
        for lp in (False,) if args.no_lp else (False, True):
            sets, breakdown, value = timed(*inputs, linear_program=lp)
            path = "linear programs" if lp else "corners"
            print(f"| {name} | {path} | {sets:.2f} | {breakdown:.2f} | {value:.3f} |")


if __name__ == "__main__":
    main()
