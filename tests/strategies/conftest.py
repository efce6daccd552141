"""Fixtures of the strategy tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """Proposals made with one BLAS and one OpenMP thread, as the workflow's proposal jobs
    make them (hpstudy.launch limits a job to its threads: 1). With more, OpenBLAS's threads
    spin on the GPs' small matrices: on a busy 2-core machine the GP tests took 3x the CPU."""
    import scipy.linalg  # noqa: F401  (loads scipy's OpenBLAS; numpy's is loaded)
    import sklearn  # noqa: F401  (loads scikit-learn's OpenMP)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield
