"""Reference numbers of the relative-magnitudes test for a window longer than 8 post-periods.

Input: an event study with 3 pre-period and 12 post-period coefficients (reference period -1
left out), drawn once from a seeded generator and printed here to 10 digits, so the test and
the reference read the same numbers:

    rng = numpy.random.default_rng(1712)
    t = [-4, -3, -2, 1, 2, ..., 12]                       # event time, reference -1 (t = -1 is 0)
    SIGMA = 0.01 * 0.6 ** |i - j|                          # AR(1)-like covariance, 15 x 15
    BETAHAT = 0.02 * (t + 1) + 0.25 * (t >= 1) + rng.multivariate_normal(0, SIGMA)

(a small linear trend difference through the reference period plus an effect of 0.25 after the start).

The reference: honestdid 0.1.1 in the numpy 1.x environment described in
tests/golden/honestdid_bcdata.py, average of the 12 post-period effects, C-LF, 500 grid points
over +-20 standard errors of the target:

    /work/refenv-honest2/bin/python tests/golden/honestdid_long_window.py
"""

import numpy as np

N_PRE, N_POST = 3, 12


def inputs() -> tuple[np.ndarray, np.ndarray]:
    """``(betahat, sigma)`` of the event study (see the module notes)."""
    rng = np.random.default_rng(1712)
    t = np.r_[np.arange(-N_PRE - 1, -1), np.arange(1, N_POST + 1)].astype(float)
    k = N_PRE + N_POST
    sigma = 0.01 * 0.6 ** np.abs(np.subtract.outer(np.arange(k), np.arange(k)))
    betahat = 0.02 * (t + 1) + 0.25 * (t >= 1) + rng.multivariate_normal(np.zeros(k), sigma)
    return np.round(betahat, 10), sigma


if __name__ == "__main__":
    import time

    import honestdid  # only in the reference environment

    betahat, sigma = inputs()
    print("betahat", np.array2string(betahat, precision=10, separator=", "))
    l_vec = np.full(N_POST, 1 / N_POST)
    start = time.time()
    print(honestdid.createSensitivityResults_relativeMagnitudes(betahat, sigma, N_PRE, N_POST, method="C-LF",
                                                                Mbarvec=[0.0, 0.5, 1.0], l_vec=l_vec,
                                                                gridPoints=500).to_string())
    print(f"{time.time() - start:.0f} s")
