"""Chunks of groups: every per-group quantity of the fit is a sum over groups.

The likelihood (eq:det-lemma, eq:quad-form), the score (eq:score-psi), the
Hessian (eq:hess-full) and the EM step (eq:em-update) read the per-group
stacks of eq:suffstats only through sums over groups i of small q x q (or
q x p) products: log|C_i|, [W_i w_i]'[W_i w_i], M_i, u_i u_i', ... So the
stacks can be walked a chunk of groups at a time, each chunk's sums added to
the running total, and the temporaries (R_i, W_i, M_i, N_i, u_i, and the
products of them) exist for one chunk only. The fit's memory is then the
statistics themselves plus O(CHUNK_GROUPS) work, whatever the number of
groups (1e7 groups from a Dask DataFrame: distributed.py).

With G <= CHUNK_GROUPS (every fit up to 1,048,576 groups) there is one
chunk, the sums are the whole-stack expressions themselves, and the results are
bitwise those of an unchunked evaluation. Above it the sums are added in a
different order, which changes them only by rounding (tests/test_group_chunks.py
holds the chunked path to the unchunked one at a small CHUNK_GROUPS).

The price, above one chunk: the Point keeps the per-group factors (R_i, W_i,
M_i, ...) of one chunk only, so a pass of the score, the Hessian or the EM
step recomputes them for the other chunks (one more Cholesky of every C_i per
pass). Measured at 2^18 groups per chunk: a default fit of 1e6 groups (4
chunks) took about a fifth longer than holding every group's factors; hence
the chunk of 2^20 groups, which keeps fits up to a million groups in one
chunk and bounds the temporaries at 1e7 groups by about 0.4 GB, below the
statistics themselves (about 1.5 GB for q = 2, p = 2).

Every evaluator uses the two functions here, never its own loop:

    for sl in group_chunks(G): out[sl] = ...       # per-group outputs (BLUPs)
    total = chunk_sums(G, terms)                  # terms(sl) -> tuple of sums
"""

#: Groups per chunk: 2^20 groups of q = 2, p = 2 hold about 360 MB of temporaries.
#: Read at call time, so a test can set it small.
CHUNK_GROUPS = 2 ** 20


def group_chunks(n_groups):
    """Consecutive slices of at most CHUNK_GROUPS groups covering 0..n_groups-1 (one slice if G is small)."""
    size = max(int(CHUNK_GROUPS), 1)
    for start in range(0, n_groups, size):
        yield slice(start, min(start + size, n_groups))


def chunk_sums(n_groups, terms):
    """The sum over chunks of ``terms(sl)``: a tuple of arrays (or floats) per chunk, added entry by entry.

    With one chunk this is ``terms(slice(0, G))`` itself (no addition, so the
    result is bitwise the unchunked one).
    """
    total = None
    for sl in group_chunks(n_groups):
        part = terms(sl)
        total = part if total is None else tuple(t + s for t, s in zip(total, part))
    return total
