"""Reference inputs and numbers of the staggered design's sensitivity test (tests/test_quasi_honest.py).

The event-time effects of Callaway and Sant'Anna on tests/data/staggered_panel.csv
(never-treated comparison, outcome regression, varying base period) and their covariance,
from csdid 0.4.3 in its reference environment (see tests/golden/staggered_reference.py):

    model = ATTgt(yname="tickets", tname="year", idname="id", gname="first_year", data=panel,
                  control_group="nevertreated")
    model.fit(est_method="reg", base_period="varying", bstrap=False)
    model.aggte(typec="dynamic", bstrap=False)
    psi = model.atte["inf_function"]["dynamic_inf_func_e"]  # n units x event times
    COV = psi.T @ psi / n**2  # its diagonal is se_egt**2 to 1e-16

The reference robust sets: the pre-period changes summed by hand into levels against
period -1 (``level(e - 1) = -(change(e) + ... + change(-1))``), then honestdid 0.1.1 in the
numpy 1.x environment described in tests/golden/honestdid_bcdata.py:

    /work/refenv-honest2/bin/python tests/golden/staggered_sensitivity.py
"""

import numpy as np

REL = [-4, -3, -2, -1, 0, 1, 2, 3, 4, 5]
ESTIMATE = [0.0977600278, -0.1130829383, -0.4638465123, 0.4195103135, 0.9472121667, 1.3425659683, 1.7936569802, 2.3562664333, 2.8195059333, 3.2712786889]
COV = [
    [1.270195366302e-01, 7.768652259850e-03, -6.233146170360e-03, 1.261206479714e-02, -7.489211112174e-03, -8.476869936661e-03, 2.798412753991e-04, -6.808300272182e-03, -2.691067832761e-02, -1.171949685070e-02],
    [7.768652259850e-03, 5.636995547883e-02, -1.680126209555e-02, 5.609271044612e-03, 2.541386233284e-03, -3.337677142361e-03, -5.916190577730e-03, 3.815869080431e-03, -8.733928198972e-03, 7.571442291006e-03],
    [-6.233146170360e-03, -1.680126209555e-02, 4.121845639054e-02, -1.875596511216e-02, 2.542659289223e-03, 5.894644541306e-03, 8.462759099328e-03, 1.632887341738e-03, 9.117130705143e-03, 1.074622762650e-02],
    [1.261206479714e-02, 5.609271044612e-03, -1.875596511216e-02, 3.080825659194e-02, -1.448861018514e-02, -1.746091018182e-02, -1.229841572482e-02, -1.121681612326e-02, -2.102301341022e-02, -1.289007805627e-02],
    [-7.489211112174e-03, 2.541386233284e-03, 2.542659289223e-03, -1.448861018514e-02, 3.149091901622e-02, 2.067168801957e-02, 1.356651696155e-02, 2.059867327213e-02, 1.697000088437e-02, 1.558022043684e-02],
    [-8.476869936661e-03, -3.337677142361e-03, 5.894644541306e-03, -1.746091018182e-02, 2.067168801957e-02, 3.879757069229e-02, 1.636526648725e-02, 1.575525092257e-02, 3.080380478694e-02, 7.934155825039e-03],
    [2.798412753991e-04, -5.916190577730e-03, 8.462759099328e-03, -1.229841572482e-02, 1.356651696155e-02, 1.636526648725e-02, 2.840690314080e-02, 2.127386106047e-02, 2.530974930870e-02, 2.827641723214e-02],
    [-6.808300272182e-03, 3.815869080431e-03, 1.632887341738e-03, -1.121681612326e-02, 2.059867327213e-02, 1.575525092257e-02, 2.127386106047e-02, 4.587701209246e-02, 2.630100122221e-02, 4.823595425951e-02],
    [-2.691067832761e-02, -8.733928198972e-03, 9.117130705143e-03, -2.102301341022e-02, 1.697000088437e-02, 3.080380478694e-02, 2.530974930870e-02, 2.630100122221e-02, 1.075121548493e-01, 4.791665771522e-02],
    [-1.171949685070e-02, 7.571442291006e-03, 1.074622762650e-02, -1.289007805627e-02, 1.558022043684e-02, 7.934155825039e-03, 2.827641723214e-02, 4.823595425951e-02, 4.791665771522e-02, 1.148010412653e-01],
]
COV = np.array(COV)


def levels() -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(betahat, sigma, n_pre, n_post)``: levels against period -1 (oldest first), then the post-period effects."""
    rel = np.array(REL)
    changes = np.flatnonzero(rel < 0)  # e = -4..-1, oldest first
    transform = np.zeros((len(rel), len(rel)))
    for i, e in enumerate(rel[changes]):  # level at e - 1 = -(changes e..-1)
        transform[i, (rel >= e) & (rel < 0)] = -1.0
    post = np.flatnonzero(rel >= 0)
    transform[len(changes) + np.arange(len(post)), post] = 1.0
    return transform @ np.array(ESTIMATE), transform @ COV @ transform.T, len(changes), len(post)


if __name__ == "__main__":
    import honestdid  # only in the reference environment

    betahat, sigma, n_pre, n_post = levels()
    l_vec = np.full(n_post, 1 / n_post)
    print(honestdid.createSensitivityResults(betahat, sigma, n_pre, n_post, method="FLCI", Mvec=[0.0, 0.1],
                                             l_vec=l_vec).to_string())
    print(honestdid.createSensitivityResults_relativeMagnitudes(betahat, sigma, n_pre, n_post, method="C-LF",
                                                                Mbarvec=[0.5, 1.0], l_vec=l_vec,
                                                                gridPoints=500).to_string())
