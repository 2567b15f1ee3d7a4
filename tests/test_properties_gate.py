"""Property: nothing a plug-in returns can crash the gate or PASS when it is invalid.

Hypothesis draws *plug-in answers*: the reference store's own answer for a
case (which must PASS), with 0 to 3 mutations -- a negative variance, an
asymmetric or non-PSD cov_re, NaN or inf, a string, a list where a dict
belongs, a missing or unknown key, scale <= 0, a huge value. Each answer goes
through exactly what ``python -m validation run`` does with it
(runner.normalise, then suite.grade_result: audit + comparisons), called
directly so that an example costs a few milliseconds. The outcome must be

* never an exception;
* for an invalid answer: a gated failure whose reasons name the key that was
  made invalid, and never PASS;
* for a valid but wrong answer (huge values): not PASS either;
* for the unmutated reference answer: PASS.

Examples: ROBUST_EXAMPLES / 10 (default 2000 / 10 = 200, a few seconds;
``make test-long`` sets ROBUST_EXAMPLES=20000, so 2000 here).
"""

import copy
import math
import os

from hypothesis import HealthCheck, given, settings, strategies as st

from validation import suite
from validation.audit import Auditor
from validation.cases import CASES
from validation.examples import _as_dict, _reference
from validation.runner import normalise

CASE_NAMES = ["sleepstudy_corr/reml", "pastes/reml", "dyestuff2/ml"]
AUDITOR = Auditor()
REFS = {n: _reference(CASES[n]) for n in CASE_NAMES}


def _n_examples():
    return max(20, int(os.environ.get("ROBUST_EXAMPLES") or 2000) // 10)


def _cov_names(ans):
    cov = ans.get("cov_re")
    if isinstance(cov, dict) and all(isinstance(r, dict) for r in cov.values()):
        return list(cov)
    return []


def _dict_keys(ans, key):
    v = ans.get(key)
    return sorted(v) if isinstance(v, dict) else []


@st.composite
def mutation(draw, ans, ref, used):
    """Mutate ``ans`` in place at a key no earlier mutation touched (``used``), so that a
    later mutation cannot repair an earlier one; return (kind, key named or None)."""
    names = _cov_names(ans) if "cov_re" not in used else []
    kinds = ["nan", "inf", "string", "list", "delete", "unknown", "huge"]
    kinds += [] if "scale" in used else ["scale"]
    if names or (_dict_keys(ans, "vcomp") and "vcomp" not in used):
        kinds += ["negative"]
    if len(names) > 1:
        kinds += ["asymmetric", "nonpsd"]
    kind = draw(st.sampled_from(kinds))
    if kind in ("nan", "inf", "string", "list"):
        keys = [k for k in ("scale", "llf") if k in ans and k not in used] + \
               [k for k in ("fe_params", "bse_fe", "vcomp") if _dict_keys(ans, k) and k not in used] + \
               (["cov_re"] if names else [])
        if not keys:
            kind = "unknown"
        else:
            key = draw(st.sampled_from(keys))
            bad = {"nan": math.nan, "inf": draw(st.sampled_from([math.inf, -math.inf])),
                   "string": draw(st.sampled_from(["", "NaN?", "1,5", "about 3"])),
                   "list": [1.0, 2.0]}[kind]
            if key in ("scale", "llf"):
                ans[key] = bad
            elif key == "cov_re":
                a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
                if kind == "list" and draw(st.booleans()):
                    ans["cov_re"] = [[1.0, 0.0], [0.0, 1.0]]    # a matrix without names
                else:
                    ans["cov_re"][a][b] = bad
            else:
                ans[key][draw(st.sampled_from(_dict_keys(ans, key)))] = bad
            return kind, key
    if kind == "delete":
        present = [k for k in ("fe_params", "scale", "llf") if k in ans and k not in used]
        present += [k for k in ("cov_re", "vcomp") if k in ans and ref[k] and k not in used]
        if not present:
            kind = "unknown"
        else:
            key = draw(st.sampled_from(present))
            del ans[key]
            return kind, key
    if kind == "unknown":
        key = draw(st.sampled_from(["fe_param", "covre", "sigma2", "theta"]))
        ans[key] = 1.0                          # unknown keys may repeat: still invalid
        return kind, key
    if kind == "scale":
        ans["scale"] = draw(st.sampled_from([0.0, -1.0, -1e-300, -ref["scale"]]))
        return kind, "scale"
    if kind == "negative":
        targets = [("cov_re", a) for a in names]
        targets += [] if "vcomp" in used else [("vcomp", k) for k in _dict_keys(ans, "vcomp")]
        where, name = draw(st.sampled_from(targets))
        size = draw(st.floats(1e-6, 1e6)) * ref["scale"]
        if where == "cov_re":
            ans["cov_re"][name][name] = -size
        else:
            ans["vcomp"][name] = -size
        return kind, f"{where}[{name}"
    rcov = ref["cov_re"]
    if kind == "asymmetric":
        a, b = draw(st.sampled_from([(x, y) for x in names for y in names if x != y]))
        top = max(abs(v) for row in rcov.values() for v in row.values())
        ans["cov_re"][a][b] = rcov[a][b] + draw(st.floats(1e-6, 10.0)) * top
        return kind, "cov_re"
    if kind == "nonpsd":
        a, b = names[:2]
        ans["cov_re"][a][a], ans["cov_re"][b][b] = rcov[a][a], rcov[b][b]
        c = draw(st.floats(1.001, 100.0)) * math.sqrt(rcov[a][a] * rcov[b][b])
        ans["cov_re"][a][b] = ans["cov_re"][b][a] = c * draw(st.sampled_from([1, -1]))
        return kind, "cov_re"
    # huge: a valid number that is wildly wrong (must not PASS, must not crash)
    big = draw(st.sampled_from([1e30, 1e300, 1.7e308]))
    keys = (["cov_re"] if names else []) + \
        [k for k in ("fe_params",) if _dict_keys(ans, k) and k not in used] + \
        [k for k in ("llf",) if k not in used]
    if not keys:
        ans["theta"] = big
        return "unknown", "theta"
    key = draw(st.sampled_from(keys))
    if key == "cov_re":
        ans["cov_re"][names[0]][names[0]] = big
    elif key == "fe_params":
        ans["fe_params"][_dict_keys(ans, "fe_params")[0]] = big
    else:
        ans["llf"] = -big
    return kind, None


@st.composite
def answers(draw):
    name = draw(st.sampled_from(CASE_NAMES))
    ref = _as_dict(REFS[name])
    ans = copy.deepcopy(ref)
    done, used = [], set()
    for _ in range(draw(st.integers(0, 3))):
        kind, key = draw(mutation(ans, ref, used))
        done.append((kind, key))
        used |= {k for k in ("fe_params", "bse_fe", "cov_re", "vcomp", "scale", "llf")
                 if (k in ans) != (k in ref) or ans.get(k) != ref.get(k)}
    return name, ans, done


@settings(max_examples=_n_examples(), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(answers())
def test_gate_never_crashes_and_never_passes_an_invalid_answer(drawn):
    name, ans, done = drawn
    case = CASES[name]
    r = normalise(ans, "plug", name)                    # never raises
    _, verdict, comps = suite.grade_result(case, r, REFS[name], None, AUDITOR, gated=True)
    text = " ".join(verdict.reasons) + " " + (r.error or "")
    if not done:
        assert verdict.passed, (name, verdict.reasons)
        return
    assert verdict.passed is False, (name, done, verdict.reasons)
    assert verdict.gated and any(c.gated and c.passed is False for c in comps), done
    invalid = [key for _, key in done if key is not None]
    if invalid:
        assert any(key in text for key in invalid), (done, text)
