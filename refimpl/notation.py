"""The notation table shared by the code and the book (book/notation.md renders it).

symbol: LaTeX as in the book; code: the name in refimpl; statsmodels: the
name of the same object in statsmodels' MixedLM (blank if it has none).
"""

NOTATION = [
    dict(symbol=r"y_i,\ X_i,\ Z_i", code="design.y, design.X, design.Z (rows of group i)", statsmodels="endog, exog, exog_re (+ exog_vc)", meaning="response, fixed-effects design, random-effects design (padded with variance-component slots) of group i"),
    dict(symbol=r"n,\ n_i,\ G", code="n_obs, group_sizes, n_groups", statsmodels="nobs, group sizes, n_groups", meaning="observations in all, in group i, number of groups"),
    dict(symbol=r"p,\ q", code="k_fe, layout.q", statsmodels="k_fe, k_re + vc columns", meaning="fixed effects; random-effect columns per group"),
    dict(symbol=r"\beta", code="fe_params, beta_hat", statsmodels="fe_params", meaning="fixed effects; beta_hat is the GLS estimate"),
    dict(symbol=r"\sigma^2", code="scale, sigma2", statsmodels="scale", meaning="residual variance"),
    dict(symbol=r"\Psi", code="layout.Psi(theta)", statsmodels="cov_re / scale, vcomp / scale", meaning="covariance of b_i in units of sigma2 (block diagonal)"),
    dict(symbol=r"\Psi_{re},\ \psi_{vc}", code="Psi_re, psi_vc", statsmodels="cov_re_unscaled, vcomp / scale", meaning="profile parameters: correlated block and variance components"),
    dict(symbol=r"\theta", code="theta", statsmodels="params.get_packed(use_sqrt=False, has_fe=False)", meaning="profile vector [tril(Psi_re), psi_vc]"),
    dict(symbol=r"L,\ s_{vc}", code="L, s_vc", statsmodels="cholesky(cov_re / scale), sqrt(vcomp / scale)", meaning="sqrt parameters"),
    dict(symbol=r"\phi", code="phi", statsmodels="params.get_packed(use_sqrt=True, has_fe=False)", meaning="sqrt vector [tril(L), s_vc]; lme4's theta"),
    dict(symbol=r"\Lambda", code="layout.Lambda(phi), Point.Lambda", statsmodels="", meaning="lower-triangular factor with Psi = Lambda Lambda'"),
    dict(symbol=r"V_i", code="dense.py only", statsmodels="", meaning="I + Z_i Psi Z_i', so cov(y_i) = sigma2 V_i"),
    dict(symbol=r"A_i,\ B_i,\ c_i", code="ZtZ, ZtX, Zty0", statsmodels="", meaning="per-group sufficient statistics Z_i'Z_i, Z_i'X_i, Z_i'y0_i"),
    dict(symbol=r"y_0,\ b_{ols}", code="beta_ols, y0ty0, Xty0", statsmodels="", meaning="OLS residual y - X b_ols and the OLS fit used to centre the statistics"),
    dict(symbol=r"C_i,\ R_i", code="Point.R", statsmodels="", meaning="C_i = I + Lambda' A_i Lambda and its Cholesky factor"),
    dict(symbol=r"S,\ T", code="Point.S, Point.T", statsmodels="", meaning="[X y0]' V^{-1} [X y0] and its Cholesky factor"),
    dict(symbol=r"q_f", code="Point.qf", statsmodels="", meaning="GLS residual quadratic form (y - X beta_hat)' V^{-1} (y - X beta_hat)"),
    dict(symbol=r"M_i,\ N_i,\ u_i", code="GroupSolves.M, .N, u_at()", statsmodels="", meaning="Z_i'V_i^{-1}Z_i, Z_i'V_i^{-1}X_i, Z_i'V_i^{-1}r_i"),
    dict(symbol=r"E_k", code="layout.dPsi_dtheta()", statsmodels="_gen_dV_dPar", meaning="d Psi / d theta_k"),
    dict(symbol=r"\hat b_i,\ \Gamma_i", code="blup.blups, blup.conditional_cov", statsmodels="random_effects, random_effects_cov", meaning="BLUP of b_i and Var(b_i | y)"),
    dict(symbol=r"\hat\mu,\ \hat y", code="predict(), predict(include_random=True)", statsmodels="predict(), fittedvalues", meaning="marginal prediction x'beta_hat and conditional prediction x'beta_hat + z'b_hat_i"),
    dict(symbol=r"y^*,\ u_i,\ \varepsilon", code="simulate()", statsmodels="", meaning="a simulated response y* = X beta_hat + Z b* + e*, with b*_i = sigma_hat Lambda u_i and e* = sigma_hat eps standard-normal draws"),
    dict(symbol=r"m", code="Point.n_eff(reml)", statsmodels="n_totobs (- k_fe under REML)", meaning="n for ML, n - p for REML"),
]
