"""Catalogue rows checked outside tests/test_robustness.py (printed into robustness_catalogue.md).

Each row names the test file that checks it.
"""

#: (id, input, outcome, behaviour, checked in)
ARGUMENT_ROWS = [
    ("start-params-wrong-length", "`start_params` of the wrong length, NaN, strings or a dict", "error",
     "TypeError/ValueError naming start_params and the accepted forms", "test_properties_args.py"),
    ("start-params-other-model", "a `MixedLMParams` of another model (other k_fe, k_re or k_vc)", "error",
     "ValueError naming both shapes (it used to fit 0.5 llf short)", "test_properties_args.py"),
    ("start-on-boundary", "`start_params` with a zero variance or a zero Cholesky pivot", "value",
     "moved inside (0.1) unless held by `free`; the fit reaches the interior optimum", "test_fit.py"),
    ("free-mask", "a `free` mask with NaN, values other than 0/1, or the wrong length", "error",
     "ValueError naming free; statsmodels' MixedLMParams masks are accepted", "test_properties_args.py"),
    ("maxiter", "`maxiter=0`, `2.5`, `-1`, `True`", "error / value",
     "0 is honoured (no step; the verdict judges the start); the others raise naming maxiter",
     "test_properties_args.py"),
    ("reml-not-bool", "`reml=\"no\"`, `1`, `None`", "error", "TypeError naming reml", "test_properties_args.py"),
    ("method-names", "`method=` unknown, `[]`, or a list of scipy names", "error / value",
     "unknown names raise; a list is tried in order until the verdict passes", "test_properties_args.py"),
    ("conf-int-alpha", "`conf_int(alpha=95)` or `alpha=0`", "error", "ValueError naming alpha", "test_inference.py"),
    ("fit-regularized-args", "`fit_regularized` with negative alpha, an unknown method, ptol <= 0", "error",
     "ValueError naming the argument; penalty objects are copied, never mutated", "test_api_regularized.py"),
]

#: (id, input, outcome, behaviour, checked in)
VERDICT_ROWS = [
    ("start-at-boundary-intercept", "the verdict at a random-intercept variance of 0 where the optimum is interior",
     "warning: `ConvergenceWarning`", "not converged: the KKT conditions fail and the reason says how much the llf rises off the boundary",
     "test_verdict_boundary.py"),
    ("rank-one-correlated-slopes", "the verdict at a rank-1 Psi (correlated slopes) inside the optimum's cone",
     "warning: `ConvergenceWarning`", "not converged (null-space KKT condition), direction named", "test_verdict_boundary.py"),
    ("vcomp-at-zero", "a variance component at 0 where the likelihood rises off it",
     "warning: `ConvergenceWarning`", "not converged: raising that component raises the llf", "test_verdict_boundary.py"),
    ("true-boundary-optimum", "Dyestuff2 (psi = 0), a rank-1 ML optimum", "warning: `ConvergenceWarning`",
     "a converged boundary (singular) fit: the KKT conditions hold", "test_verdict_boundary.py"),
    ("audit-engine-on-boundary", "another engine reports cov_re = 0 where the optimum is interior", "value",
     "the audit says NOT stationary, with the measured gain", "test_verdict_boundary.py"),
    ("plugin-invalid-answer", "a plug-in returns a negative variance, an asymmetric or non-PSD cov_re, a string, NaN, or a wrong shape",
     "gated failure", "a failed row naming the key and the rule; never PASS", "test_validation_gate.py, test_properties_gate.py"),
    ("cli-arguments", "`--plugin pkg.mod` (no `:function`), `--timeout nan`, a corrupt `--reference`, an unwritable `--out`",
     "usage error", "one line naming the argument, exit 2, before any fit", "test_validation_gate.py"),
    ("all-engines-failed", "every engine raises", "gated failure", "the report is written, exit 1", "test_validation_gate.py"),
]


def markdown_rows():
    """The two tables as markdown lines."""
    lines = []
    for title, rows in (("Arguments", ARGUMENT_ROWS), ("The verdict and the validation gate", VERDICT_ROWS)):
        lines += ["", f"## {title}", "", "| id | input | outcome | behaviour | checked in |",
                  "|---|---|---|---|---|"]
        lines += [f"| `{r[0]}` | {r[1]} | {r[2]} | {r[3]} | `tests/{r[4].split(', ')[0]}`"
                  + "".join(f", `tests/{f}`" for f in r[4].split(", ")[1:]) + " |" for r in rows]
    return lines
