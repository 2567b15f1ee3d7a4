"""Run the book's kernels over local IPC sockets instead of TCP.

Every page is executed by a fresh IPython kernel. jupyter_client starts it on
TCP loopback ports by default, and ipykernel (7.x) then logs, once per page,
"Kernel is running over TCP without encryption ... Use IPC transport". The
book's kernels only ever talk to the build process on the same machine, so
IPC (Unix domain sockets) is the right transport, and it removes the warning
at its cause rather than filtering it.

Two defaults of jupyter_client must change, because myst-nb and jupyter-cache
create their ``KernelManager`` without a configuration object:

* ``transport``: "ipc" instead of "tcp";
* ``ip``, which for IPC is the path prefix of the socket files. Its default is
  the *relative* path "kernel-ipc", resolved by the build process in the
  repository root but by the kernel in the page's folder, so the two would
  never meet. Here it is an absolute prefix in a private temporary folder,
  removed when the build ends (jupyter_client numbers the sockets after it
  and deletes them when a kernel shuts down).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def setup(app):
    import zmq
    from jupyter_client.manager import AsyncKernelManager, KernelManager

    if not zmq.has("ipc"):  # Windows: keep TCP
        return {"parallel_read_safe": True, "parallel_write_safe": True}
    sockets = Path(tempfile.mkdtemp(prefix="lmm-book-kernels-"))
    atexit.register(shutil.rmtree, sockets, ignore_errors=True)

    def ip_default(self):
        return str(sockets / "kernel-ipc")

    for cls in (KernelManager, AsyncKernelManager):
        cls.transport.default_value = "ipc"
        cls._ip_default = ip_default          # traitlets' per-class dynamic default
    return {"parallel_read_safe": True, "parallel_write_safe": True}
