"""Golden numbers of tests/test_quasi_staggered.py from csdid (the Python port of R ``did``) and pyfixest.

Run in a separate reference environment (never the project's):

    python3 -m venv /work/refenv-stagger
    /work/refenv-stagger/bin/pip install csdid==0.4.3 pyfixest==0.60.0
    /work/refenv-stagger/bin/python tests/golden/staggered_reference.py

It prints the GOLDEN dictionary pasted into the test. Settings: outcome regression
(``est_method="reg"``, the unconditional case: no covariates), varying base period,
analytic standard errors (``bstrap=False``), on tests/data/staggered_panel.csv (written by
tests/golden/make_staggered_panel.py), with never-treated and with not-yet-treated units as
comparison, and (``no_never_treated``) on the waves alone with not-yet-treated units. The Sun and Abraham event study: pyfixest ``feols`` of the outcome on one dummy per
cohort and year relative to its start (all but -1; never-treated units have none) with region
and year fixed effects, ``vcov={"CRV1": "id"}``; its post-start coefficients averaged with the
cohorts' sizes as weights, standard error ``sqrt(w' V w)``.
"""

import contextlib
import io
from pathlib import Path
from pprint import pprint

import numpy as np
import pandas as pd
import pyfixest as pf
from csdid.att_gt import ATTgt

panel = pd.read_csv(Path(__file__).resolve().parents[1] / "data" / "staggered_panel.csv")
panel["id"] = panel["region"].str[1:].astype(int)
golden = {}
quiet = contextlib.redirect_stdout(io.StringIO())  # csdid prints its summaries
for control in ("nevertreated", "notyettreated"):
    quiet.__enter__()
    model = ATTgt(yname="tickets", tname="year", idname="id", gname="first_year", data=panel, control_group=control)
    model.fit(est_method="reg", base_period="varying", bstrap=False)
    res = model.results
    out = {
        "pretest_W": round(float(model.MP["W"]), 10),
        "att_gt": [(int(g), int(t), round(float(a), 10), round(float(s), 10))
                   for g, t, a, s in zip(res["group"], res["year"], res["att"], res["se"], strict=True)],
    }
    for kind in ("simple", "dynamic", "group"):
        model.aggte(typec=kind, bstrap=False)
        a = model.atte
        out[kind] = (round(float(a["overall_att"]), 10), round(float(a["overall_se"]), 10))
        if kind != "simple":
            out[f"{kind}_detail"] = [(int(k), round(float(e), 10), round(float(s), 10))
                                     for k, e, s in zip(a["egt"], a["att_egt"], a["se_egt"], strict=True)]
    quiet.__exit__(None, None, None)
    golden[control] = out
# Without never-treated units: csdid (as R did) makes the last cohort the comparison before its start.
quiet.__enter__()
waves = panel[panel["first_year"] > 0]
model = ATTgt(yname="tickets", tname="year", idname="id", gname="first_year", data=waves, control_group="notyettreated")
model.fit(est_method="reg", base_period="varying", bstrap=False)
res = model.results
out = {"att_gt": [(int(g), int(t), round(float(a), 10), round(float(s), 10))
                  for g, t, a, s in zip(res["group"], res["year"], res["att"], res["se"], strict=True)]}
for kind in ("simple", "dynamic", "group"):
    model.aggte(typec=kind, bstrap=False)
    out[kind] = (round(float(model.atte["overall_att"]), 10), round(float(model.atte["overall_se"]), 10))
quiet.__exit__(None, None, None)
golden["no_never_treated"] = out
cells = sorted({(int(g), int(t - g)) for g, t in zip(panel["first_year"], panel["year"], strict=True)
                if g and t - g != -1})
names = [f"d_{g}_{e + 10}" for g, e in cells]  # no minus sign in a formula name
for name, (g, e) in zip(names, cells, strict=True):
    panel[name] = ((panel["first_year"] == g) & (panel["year"] - g == e)).astype(float)
fit = pf.feols(f"tickets ~ {' + '.join(names)} | id + year", data=panel, vcov={"CRV1": "id"})
beta, vcov = fit.coef()[names].to_numpy(), fit._vcov
size = panel.groupby("first_year")["id"].nunique()
w = np.array([size[g] if e >= 0 else 0.0 for g, e in cells])
w = w / w.sum()
golden["sun_abraham"] = {
    "cells": [(g, e, round(float(b), 10), round(float(s), 10))
              for (g, e), b, s in zip(cells, beta, fit.se()[names].to_numpy(), strict=True)],
    "overall": (round(float(w @ beta), 10), round(float(np.sqrt(w @ vcov @ w)), 10)),
}
pprint(golden, width=120, sort_dicts=False)
