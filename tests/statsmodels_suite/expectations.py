"""What the conformance run expects of statsmodels' own MixedLM tests, with a reason for each.

statsmodels' ``statsmodels/regression/tests/test_lme.py`` is run byte for byte
unchanged (its SHA-256 is checked against ``TEST_FILE_SHA256``), with
``MixedLM``, ``MixedLMParams``, ``statsmodels.api.MixedLM`` and
``statsmodels.formula.api.mixedlm`` rebound to refimpl's (rebind.py). Keys
are pytest node ids without the file part; a key without ``[...]`` covers all
its parametrizations.

NOT_APPLICABLE: only tests that exercise a statsmodels *private* name. They
would pass, but they test statsmodels' code, not refimpl's, so they are
reported apart.

XFAIL: places where refimpl rightly disagrees with statsmodels. Each reason
says why refimpl's answer is the right one.
"""

#: statsmodels version -> SHA-256 of its tests/test_lme.py (the file we run unchanged).
TEST_FILE_SHA256 = {
    "0.14.6": "476ea025074f0597e25690116ff2f6d9c859dc203373bcb9152e1c05945ea8a3",
}

NOT_APPLICABLE = {
    "TestSMWSolver::test_smw_solver":
        "tests statsmodels' private _smw_solver (Sherman-Morrison-Woodbury solve) directly; "
        "no MixedLM is built. refimpl's Woodbury identities are tested in tests/test_likelihood.py",
    "TestSMWLogdet::test_smw_logdet":
        "tests statsmodels' private _smw_logdet directly; no MixedLM is built. refimpl's "
        "determinant lemma is tested in tests/test_likelihood.py",
}

XFAIL = {
    "test_singular":
        "statsmodels warns 'The MLE may be on the boundary' because its group variance estimate "
        "is below 0.01 (a fixed threshold in the units of y). refimpl's optimum there is interior "
        "(Group Var 5.7e-4, relative Cholesky factor 0.024 > 1e-4), the convergence verdict "
        "passes with a negative definite Hessian, so refimpl rightly gives no warning",
}
