"""Write tests/data/staggered_panel.csv: a generated staggered rollout (60 units x 8 years).

Run: python tests/golden/make_staggered_panel.py  (numpy and pandas only; seed 20261206).
Cohorts: 15 units start in 2003, 15 in 2005, 12 in 2006, 18 are never treated. The effect
differs by cohort and grows with the years since the start; unit and year effects and noise.
"""

from pathlib import Path

import numpy as np
import pandas as pd

rng = np.random.default_rng(20261206)
years = np.arange(2001, 2009)
starts = [2003] * 15 + [2005] * 15 + [2006] * 12 + [0] * 18
rows = []
for i, g in enumerate(starts):
    alpha_i = rng.normal(0, 1)
    for t in years:
        e = t - g if g else -1
        effect = (1.0 + 0.3 * (g == 2003) + 0.4 * e) if g and e >= 0 else 0.0
        y = 10 + alpha_i + 0.2 * (t - 2001) + 0.3 * np.sin(t) + effect + rng.normal(0, 0.7)
        rows.append({"region": f"r{i:02d}", "year": int(t), "first_year": g, "tickets": round(float(y), 6)})
out = Path(__file__).resolve().parents[1] / "data" / "staggered_panel.csv"
pd.DataFrame(rows).to_csv(out, index=False)
print(out)
