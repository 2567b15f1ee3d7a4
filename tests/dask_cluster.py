"""The LocalCluster the Dask tests run on: 2 worker processes, one thread each, 1 GiB each.

Each Dask test module starts its own (module-scoped fixture), so a test that
kills a worker (test_dask.py) cannot disturb another module's cluster.
"""

import contextlib


@contextlib.contextmanager
def local_client(**config):
    """A ``distributed.Client`` on a fresh 2-process LocalCluster, with dask ``config`` set."""
    import dask
    import distributed

    with dask.config.set(config):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, memory_limit="1GiB")
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
