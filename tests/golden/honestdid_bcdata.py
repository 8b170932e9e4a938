"""Reference numbers of tests/test_quasi_honest.py, from the honestdid package (PyPI, 0.1.1).

Run in a separate environment (never the kit's own):

    python3 -m venv /work/refenv-honest && /work/refenv-honest/bin/pip install honestdid==0.1.1
    /work/refenv-honest/bin/python tests/golden/honestdid_bcdata.py

honestdid 0.1.1 was written for numpy 1.x: under numpy 2 its relative-magnitudes (C-LF) run
stops with "TypeError: only 0-dimensional arrays can be converted to Python scalars"
(``float`` of a 1x1 array, core.py line 1021). The relative-magnitudes numbers therefore come
from a second environment with numpy 1.26 (pandas 2.2, scipy 1.13, cvxpy 1.6; honestdid and
torch unchanged, read from the first environment):

    python3 -m venv /work/refenv-honest2
    /work/refenv-honest2/bin/pip install "numpy<2" "pandas<2.3" "scipy<1.14" "cvxpy<1.7"
    echo /work/refenv-honest/lib/python3.11/site-packages \
        > /work/refenv-honest2/lib/python3.11/site-packages/zz_refenv_honest.pth
    /work/refenv-honest2/bin/python tests/golden/honestdid_bcdata.py

Input: the Benzarti and Carloni (2019) event study that HonestDiD ships as ``BCdata_EventStudy``
(betahat and sigma as printed in the package's examples; 4 pre-periods, 4 post-periods, reference 2008).
"""

import numpy as np

BETAHAT = np.array([0.006696352, 0.029345034, -0.006472972, 0.073014989, 0.195961118, 0.312063903, 0.239541546, 0.126042500])
SIGMA = np.array([
    [8.428358e-04, 4.768687e-04, 2.618051e-04, 0.0002354220, 0.0001676371, 0.0001128708, 1.992816e-05, -1.368265e-04],
    [4.768687e-04, 6.425420e-04, 3.987425e-04, 0.0002435515, 0.0002201960, 0.0001804591, 3.843765e-05, -2.960422e-05],
    [2.618051e-04, 3.987425e-04, 5.229950e-04, 0.0002117686, 0.0001840722, 0.0001458528, 7.005197e-05, 5.952995e-05],
    [2.354220e-04, 2.435515e-04, 2.117686e-04, 0.0003089595, 0.0001197866, 0.0001334081, 1.016335e-04, 1.079052e-04],
    [1.676371e-04, 2.201960e-04, 1.840722e-04, 0.0001197866, 0.0003599704, 0.0002478819, 1.749579e-04, 1.654257e-04],
    [1.128708e-04, 1.804591e-04, 1.458528e-04, 0.0001334081, 0.0002478819, 0.0004263950, 2.171438e-04, 2.892748e-04],
    [1.992816e-05, 3.843765e-05, 7.005197e-05, 0.0001016335, 0.0001749579, 0.0002171438, 4.886698e-04, 3.805322e-04],
    [-1.368265e-04, -2.960422e-05, 5.952995e-05, 0.0001079052, 0.0001654257, 0.0002892748, 3.805322e-04, 7.617394e-04],
])

if __name__ == "__main__":
    import honestdid  # only in the reference environment; the tests import the inputs above

    for name, l_vec in (("first", np.array([1.0, 0, 0, 0])), ("average", np.full(4, 0.25))):
        sd = honestdid.createSensitivityResults(BETAHAT, SIGMA, 4, 4, method="FLCI", Mvec=[0.0, 0.01, 0.02, 0.05],
                                                l_vec=l_vec, alpha=0.05)
        print(name, "FLCI Delta^SD\n", sd.to_string())
        rm = honestdid.createSensitivityResults_relativeMagnitudes(BETAHAT, SIGMA, 4, 4, method="C-LF",
                                                                   Mbarvec=[0.0, 0.5, 1.0, 1.5, 2.0], l_vec=l_vec,
                                                                   alpha=0.05)
        print(name, "C-LF Delta^RM\n", rm.to_string())
