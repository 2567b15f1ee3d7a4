"""Profile likelihood of one variance parameter (statsmodels' ``results.profile_re``).

The variance is held on a grid and the log-likelihood maximised over every
other covariance parameter at each grid value, with ``model.fit(free=mask)``.
A mixin of :class:`refimpl.results.MixedLMResults`.
"""

from dataclasses import replace

import numpy as np

from .linalg import n_tril
from .parameters import MixedLMParams, pack_profile, unpack_profile


class Profile:
    """``profile_re`` for MixedLMResults (needs model, theta, scale, reml, free, k_re, k_vc)."""

    def profile_re(self, re_ix, vtype="re", num_low=5, dist_low=1.0, num_high=5, dist_high=1.0,
                   **fit_kwargs):
        """Profile likelihood of one variance: rows (value, llf), as statsmodels' ``profile_re``.

        vtype "re": the variance of random effect re_ix (index or name in
        exog_re_names); vtype "vc": variance component re_ix (name or index).
        The variance is held on a grid of num_low + 1 + num_high profile values
        from (v - dist_low)/scale to (v + dist_high)/scale (v the user-scale
        estimate), and the log-likelihood maximised over the rest with
        ``model.fit(free=mask, start_params=...)``. The first column is
        statsmodels' x * scale, with the scale of *that* refit.

        As statsmodels does, a random effect re_ix > 0 is moved to column 0 of
        a copy of the model first: Psi_re[0, 0] = L[0, 0]**2, so holding it
        is holding one sqrt parameter. Start values keep the estimated
        correlations (statsmodels keeps covariances, which can leave Psi_re
        indefinite); the refit optimum does not depend on them.
        """
        from . import arguments
        num_low = arguments.integer("num_low", num_low, minimum=0)
        num_high = arguments.integer("num_high", num_high, minimum=0)
        dist_low = arguments.real("dist_low", dist_low)       # any finite number, as statsmodels
        dist_high = arguments.real("dist_high", dist_high)
        model, theta, j = self._profile_target(re_ix, vtype)
        mask = np.ones(len(theta)) if self.free is None else self.free.copy()
        if vtype == "re" and self.free is not None:
            mask = self._permuted_mask(re_ix)
        mask[j] = 0.0
        v = theta[j] * self.scale
        low, high = (v - dist_low) / self.scale, (v + dist_high) / self.scale
        if low <= 0:
            raise ValueError(f"dist_low={dist_low} reaches below zero from the estimate {v:.6g}; "
                             "use a smaller dist_low")
        grid = np.concatenate([np.linspace(low, theta[j], num_low + 1),
                               np.linspace(theta[j], high, num_high + 1)[1:]])
        rows = []
        for x in grid:
            start = MixedLMParams.from_profile(_held_start(theta, j, x, self.k_re), self.k_re)
            r = model.fit(reml=self.reml, start_params=start, free=mask, **fit_kwargs)
            rows.append([x * r.scale, r.llf])
        return np.asarray(rows)

    def _profile_target(self, re_ix, vtype):
        """(model, theta, index of the held parameter in theta) for profile_re."""
        if vtype == "vc":
            names = list(self.model.vc_names)
            k = _position(re_ix, names)
            if not 0 <= k < self.k_vc:
                raise ValueError(f"no variance component {re_ix!r}; components are {names}")
            return self.model, self.theta, self.k_re2 + k
        if vtype != "re":
            raise ValueError(f"vtype must be 're' or 'vc', got {vtype!r}")
        perm = self._re_permutation(re_ix)
        Psi_re, psi_vc = unpack_profile(self.theta, self.k_re)
        theta = pack_profile(Psi_re[np.ix_(perm, perm)], psi_vc)
        if perm[0] == 0:
            return self.model, theta, 0
        d = self.model.design
        Z = d.Z.copy()
        Z[:, :self.k_re] = d.Z[:, perm]
        design = replace(d, Z=Z, exog_re_names=[d.exog_re_names[i] for i in perm])
        return type(self.model)(None, None, None, _design=design), theta, 0

    def _re_permutation(self, re_ix):
        names = list(self.model.exog_re_names)
        k = _position(re_ix, names)
        if not 0 <= k < self.k_re:
            raise ValueError(f"no random effect {re_ix!r}; random effects are {names}")
        perm = np.arange(self.k_re)
        perm[[0, k]] = perm[[k, 0]]
        return perm

    def _permuted_mask(self, re_ix):
        perm = self._re_permutation(re_ix)
        M, m_vc = unpack_profile(self.free, self.k_re)
        return pack_profile(M[np.ix_(perm, perm)], m_vc)


def _position(ix, names):
    """Index of ix in names if ix is a name (-1 if absent), else int(ix)."""
    if isinstance(ix, str):
        return names.index(ix) if ix in names else -1
    return int(ix)


def _held_start(theta, j, x, k_re):
    """theta with entry j set to x; for Psi_re[0, 0] (j = 0), row 0 rescaled to keep correlations."""
    theta = theta.copy()
    if j >= n_tril(k_re):
        theta[j] = x
        return theta
    Psi_re, psi_vc = unpack_profile(theta, k_re)
    old = Psi_re[0, 0]
    f = np.sqrt(x / old) if old > 0 else 0.0
    Psi_re[0, :] *= f
    Psi_re[:, 0] *= f
    Psi_re[0, 0] = x
    return pack_profile(Psi_re, psi_vc)
