"""The notation table shared by the code and the book (book/notation.md renders it).

One symbol, one meaning, in every chapter and in the code. Each entry:

symbol: LaTeX as in the book (several symbols separated by ``,\\ ``);
code: the name in refimpl; statsmodels: the name of the same object in
statsmodels' MixedLM (blank if it has none); meaning: what it is.

Optional ``pages``: a few symbols of the numerical chapters (a step length, a
function being differentiated) are *local* to the pages listed, and mean
nothing elsewhere. tests/test_notation.py checks that every symbol in a
page's math is in this table for that page, and that no symbol is defined
twice for any page (book/symbols.py says what counts as a symbol: accents,
indices and exponents do not make a new one).
"""

NOTATION = [
    # ---- data and sizes ------------------------------------------------------
    dict(symbol=r"y_i,\ X_i,\ Z_i,\ y_0", code="design.y, design.X, design.Z (rows of group i); y0 = y - X beta_ols", statsmodels="endog, exog, exog_re (+ exog_vc)", meaning="response, fixed-effects design, random-effects design (padded with variance-component slots) of group i; without i, stacked over groups; y_0 the OLS residual used to centre the statistics"),
    dict(symbol=r"n,\ n_i,\ \bar n", code="n_obs, group_sizes", statsmodels="nobs, group sizes", meaning="observations in all, in group i; n-bar the common group size of a balanced design"),
    dict(symbol=r"G", code="n_groups; the leading axis (G, q, ...) of every per-group stack", statsmodels="n_groups", meaning="number of groups"),
    dict(symbol=r"p,\ q,\ q_j", code="k_fe, layout.q, layout.vc_slots(j)", statsmodels="k_fe, k_re + vc columns", meaning="fixed effects; random-effect columns per group; columns (slots) of variance component j (q_ij: real ones in group i)"),
    dict(symbol=r"k_{re},\ k_{vc}", code="k_re, k_vc", statsmodels="k_re, k_vc", meaning="correlated random effects; variance components"),
    dict(symbol=r"i,\ j", code="", statsmodels="", meaning="indices: group i; variance component, row within a group, or row/column of Psi_re j. Subscripts s (a slot) and k, l (covariance parameters) are indices too"),
    dict(symbol=r"I", code="np.eye", statsmodels="", meaning="identity matrix of the size the context needs"),
    # ---- the model -----------------------------------------------------------
    dict(symbol=r"\beta", code="fe_params, beta_hat", statsmodels="fe_params", meaning="fixed effects; beta_hat is the GLS estimate"),
    dict(symbol=r"b_i,\ \hat b_i,\ \tilde b_i", code="blup.blups", statsmodels="random_effects", meaning="random effects of group i, their BLUP, and the least-squares estimate from group i alone (shrinkage chapter)"),
    dict(symbol=r"e_i", code="resid (estimated)", statsmodels="resid", meaning="residual errors of group i"),
    dict(symbol=r"\sigma^2,\ \sigma_b^2,\ \sigma_e^2", code="scale, sigma2", statsmodels="scale", meaning="residual variance (sigma_e^2 the same in the one-way ANOVA model; sigma_b^2 the random-intercept variance, user scale)"),
    dict(symbol=r"\Psi", code="layout.Psi(theta)", statsmodels="cov_re / scale, vcomp / scale", meaning="covariance of b_i in units of sigma2 (block diagonal)"),
    dict(symbol=r"\Psi_{re},\ \psi_{vc}", code="Psi_re, psi_vc", statsmodels="cov_re_unscaled, vcomp / scale", meaning="profile parameters: correlated block and variance components"),
    dict(symbol=r"\psi,\ \psi_j", code="psi_vc[j]", statsmodels="vcomp[j] / scale", meaning="one variance ratio: of variance component j, or of the random intercept in a one-way model"),
    dict(symbol=r"\theta", code="theta", statsmodels="params.get_packed(use_sqrt=False, has_fe=False)", meaning="profile vector [tril(Psi_re), psi_vc]"),
    dict(symbol=r"\gamma", code="cov_re, vcomp entries", statsmodels="cov_re, vcomp", meaning="one covariance parameter on the user scale, sigma2 * theta_k"),
    dict(symbol=r"L,\ s_{vc},\ s_j", code="L, s_vc", statsmodels="cholesky(cov_re / scale), sqrt(vcomp / scale)", meaning="sqrt parameters"),
    dict(symbol=r"s_{cask}", code="s_vc[0] (Pastes)", statsmodels="", meaning="sqrt parameter of the cask variance component in the Pastes example"),
    dict(symbol=r"\phi", code="phi", statsmodels="params.get_packed(use_sqrt=True, has_fe=False)", meaning="sqrt vector [tril(L), s_vc]; lme4's theta"),
    dict(symbol=r"\Lambda", code="layout.Lambda(phi), Point.Lambda", statsmodels="", meaning="lower-triangular factor with Psi = Lambda Lambda'"),
    dict(symbol=r"V_i,\ \Sigma", code="dense.py only", statsmodels="", meaning="V_i = I + Z_i Psi Z_i', so cov(y_i) = sigma2 V_i = Sigma_i"),
    dict(symbol=r"E_k", code="layout.dPsi_dtheta()", statsmodels="_gen_dV_dPar", meaning="d Psi / d theta_k"),
    # ---- sufficient statistics and the likelihood ----------------------------
    dict(symbol=r"A_i,\ B_i,\ c_i", code="ZtZ, ZtX, Zty0", statsmodels="", meaning="per-group sufficient statistics Z_i'Z_i, Z_i'X_i, Z_i'y0_i; with a tilde, R_i^{-1} Lambda' times them (score.chunk_solves' K; Point.W, Point.w)"),
    dict(symbol=r"b_{ols}", code="beta_ols", statsmodels="", meaning="the OLS fit of y on X, used to centre the statistics"),
    dict(symbol=r"\delta", code="Point.delta", statsmodels="", meaning="beta_hat - b_ols, the GLS estimate on the centred data"),
    dict(symbol=r"C_i,\ R_i", code="Point.R", statsmodels="", meaning="C_i = I + Lambda' A_i Lambda and its lower Cholesky factor"),
    dict(symbol=r"U_i", code="", statsmodels="", meaning="Z_i Lambda, so V_i = I + U_i U_i' (Woodbury chapter)"),
    dict(symbol=r"S,\ T,\ \mathfrak{b},\ \mathfrak{c}", code="Point.S, Point.T", statsmodels="", meaning="S = [X y0]' V^{-1} [X y0] = [[W, b], [b', c]] and its Cholesky factor T"),
    dict(symbol=r"W", code="Point.XtVinvX (W in hessian.py)", statsmodels="", meaning="X'V^{-1}X"),
    dict(symbol=r"r_i", code="y - X beta (u_at)", statsmodels="", meaning="marginal residual y_i - X_i beta"),
    dict(symbol=r"Q", code="quad_form, Point.qf (= Q(beta_hat))", statsmodels="", meaning="Q(beta) = sum_i r_i' V_i^{-1} r_i; Q(beta_hat) is qf"),
    dict(symbol=r"m", code="Point.n_eff(reml)", statsmodels="n_totobs (- k_fe under REML)", meaning="n for ML, n - p for REML"),
    dict(symbol=r"\ell,\ \ell_p,\ \ell_R", code="loglike, loglike_sqrt, full_loglike", statsmodels="loglike", meaning="log-likelihood; l_p profiled over beta and sigma2; l_R the restricted (REML) one"),
    dict(symbol=r"K,\ w", code="(likelihood chapter only)", statsmodels="", meaning="error contrasts: an n x (n-p) matrix with K'X = 0, K'K = I, and w = K'y"),
    dict(symbol=r"\pi", code="np.pi", statsmodels="", meaning="the constant 3.14159..."),
    # ---- derivatives ---------------------------------------------------------
    dict(symbol=r"M_i,\ N_i,\ u_i", code="GroupSolves.M, .N, u_at()", statsmodels="", meaning="Z_i'V_i^{-1}Z_i, Z_i'V_i^{-1}X_i, Z_i'V_i^{-1}r_i"),
    dict(symbol=r"F", code="score.score_matrix (local G)", statsmodels="", meaning="q x q score matrix: d l_p / d theta_k = tr(E_k F)"),
    dict(symbol=r"a", code="a in hessian.py / score.py", statsmodels="", meaning="X'V^{-1}r"),
    dict(symbol=r"\mathcal{P}", code="hessian.pair_traces", statsmodels="", meaning="P(F, H)_kl = sum_i tr(E_k F_i E_l H_i) for two stacks of q x q matrices"),
    dict(symbol=r"g", code="score_phi", statsmodels="score", meaning="score vector (gradient of l_p in phi)"),
    dict(symbol=r"H", code="hessian_phi, hessian_profile, hessian_beta_theta", statsmodels="hessian", meaning="Hessian matrix of a log-likelihood (H_0 in a test: the null hypothesis)"),
    dict(symbol=r"J", code="parameters.jacobian_sqrt_to_profile", statsmodels="", meaning="Jacobian d theta / d phi"),
    dict(symbol=r"\epsilon", code="np.finfo(float).eps", statsmodels="", meaning="machine epsilon, about 2.2e-16"),
    dict(symbol=r"\kappa", code="np.linalg.cond", statsmodels="", meaning="condition number of -Hessian"),
    dict(symbol=r"\mu", code="newton.newton_direction", statsmodels="", meaning="Levenberg shift added to -H when it is not positive definite"),
    dict(symbol=r"\Delta", code="", statsmodels="", meaning="a difference: a step Delta phi, a gradient change Delta g, a finite difference Delta^6 f, a change Delta l"),
    # ---- BLUPs, EM, shrinkage ------------------------------------------------
    dict(symbol=r"\Gamma_i", code="blup.conditional_cov", statsmodels="random_effects_cov", meaning="Var(b_i | y)"),
    dict(symbol=r"v_i", code="", statsmodels="", meaning="spherical random effects, b_i = Lambda v_i (lme4's u)"),
    dict(symbol=r"\varepsilon_i", code="", statsmodels="", meaning="b_i minus its conditional mean given beta and y (REML E-step)"),
    dict(symbol=r"\mathcal{C}", code="", statsmodels="", meaning="Henderson's coefficient matrix of the mixed-model equations"),
    dict(symbol=r"\omega_i,\ \Omega_i", code="", statsmodels="", meaning="shrinkage factor n_i psi / (1 + n_i psi) of the one-way model; the matrix factor (Psi^{-1} + A_i)^{-1} A_i"),
    dict(symbol=r"\alpha", code="", statsmodels="", meaning="an eigenvalue of A_i^{1/2} Psi A_i^{1/2} (shrinkage chapter)"),
    dict(symbol=r"\xi,\ \Xi", code="", statsmodels="", meaning="origin of a covariate, and the matrix that moves it (centring chapter)"),
    dict(symbol=r"\lambda,\ P", code="certified/anova.py", statsmodels="", meaning="balanced one-way model: eigenvalue sigma_e^2 + n-bar sigma_b^2 of sigma2 V_i, and the projection 11'/n-bar"),
    # ---- inference -----------------------------------------------------------
    dict(symbol=r"\chi", code="scipy.stats.chi2", statsmodels="", meaning="chi^2_d: the chi-square distribution with d degrees of freedom"),
    dict(symbol=r"k,\ k_{big},\ k_{small}", code="df_modelwc", statsmodels="df_modelwc", meaning="number of estimated parameters, p + covariance parameters + 1 (AIC, BIC, LR test)"),
    dict(symbol=r"\ell_{big},\ \ell_{small}", code="lrtest.LRTest.llf_big, .llf_small", statsmodels="", meaning="log-likelihoods of the bigger and the smaller of two nested fits"),
    dict(symbol=r"\nu,\ \nu_c", code="certified (dps)", statsmodels="", meaning="a number of decimal digits: the working precision of the certification, and the certified digits"),
    # ---- generic notation ----------------------------------------------------
    dict(symbol=r"\mathcal{N},\ \mathcal{O}", code="", statsmodels="", meaning="normal distribution; order of magnitude"),
    # ---- page-local symbols of the numerical chapters -------------------------
    dict(symbol=r"x,\ z", code="predict(), predict(include_random=True)", statsmodels="predict(), fittedvalues", meaning="x', z': a row of X and of Z for one (new) observation; hat y its conditional prediction x'beta_hat + z'b_hat_i (the marginal one is x'beta_hat)", pages="prediction"),
    dict(symbol=r"\upsilon", code="simulate()", statsmodels="", meaning="a simulated response y* = X beta_hat + Z b* + e*, with b*_i = sigma_hat Lambda upsilon_i and e* = sigma_hat upsilon_e, upsilon standard-normal draws", pages="prediction"),
    dict(symbol=r"D", code="convergence.boundary_ascents", statsmodels="", meaning="a symmetric direction Psi + D in which the KKT conditions are tested", pages="boundary"),
    dict(symbol=r"D,\ l,\ x", code="blocked Cholesky", statsmodels="", meaning="D: the diagonal leading block I + lambda_1^2 Z_1'Z_1 of C; l: a level of the largest factor; x: a covariate", pages="crossed"),
    dict(symbol=r"\zeta,\ \Phi,\ \Theta,\ D,\ \rho,\ h,\ t,\ x,\ z", code="profile_ci.py, satterthwaite.py, kenward_roger.py", statsmodels="", meaning="zeta: lme4's signed root deviance of a profile; Phi = (X'V^{-1}X)^{-1}; Theta = L'(L Phi L')^{-1}L for a contrast L; D, rho: the sd diagonal and the correlation matrix with Psi = D rho D; h, t, x: a step, a t statistic, a parameter; z: a normal quantile", pages="intervals"),
    dict(symbol=r"f,\ x", code="gradcheck.check_gradient(f, x)", statsmodels="", meaning="a function being differentiated and its argument; x also any computed quantity scored by LRE", pages="gradcheck certified parameterizations validation"),
    dict(symbol=r"h", code="", statsmodels="", meaning="finite-difference step", pages="gradcheck certified parameterizations score"),
    dict(symbol=r"t", code="", statsmodels="", meaning="step length (of a finite difference, a line search, or a path off the boundary)", pages="gradcheck optimizers boundary"),
    dict(symbol=r"D,\ \tau,\ \rho,\ \eta,\ \zeta,\ \Upsilon", code="gradcheck.py", statsmodels="", meaning="central difference quotient D(t) and Richardson's D_R; truncation estimate tau; rounding estimate rho; truncation coefficient eta; noise level zeta; scaling Upsilon", pages="gradcheck"),
    dict(symbol=r"\mathcal{B},\ \rho,\ \eta", code="scipy BFGS; steepest.py", statsmodels="", meaning="BFGS inverse-Hessian approximation and rho = 1 / Delta g' Delta phi; Armijo constant eta", pages="optimizers"),
    dict(symbol=r"t_i,\ \varsigma", code="", statsmodels="", meaning="a covariate with a random slope, and a scale factor", pages="centring model"),
    dict(symbol=r"\varpi", code="dask_stats: a partition's beta_ols (varpi_k), b_ref (varpi_0)", statsmodels="", meaning="least-squares fit of one partition (varpi_k), and the common reference (varpi_0, the first partition's) at which every partition's statistics are centred before they are summed", pages="distributed"),
    dict(symbol=r"\vartheta", code="", statsmodels="", meaning="a variance, argument of the generic term -df/2 log(theta) - SS/(2 theta)", pages="anova"),
    dict(symbol=r"\tau", code="", statsmodels="", meaning="tau = sigma2 + n_bar sigma_b^2, the variance of a group mean times n_bar in a balanced one-way design (expected MSB); intervals exercises", pages="intervals"),
]
