"""Run the book's kernels over local IPC sockets instead of TCP.

Every page is executed by a fresh IPython kernel. jupyter_client starts it on
TCP loopback ports by default, and ipykernel (7.x) then logs, once per page,
"Kernel is running over TCP without encryption ... Use IPC transport". The
book's kernels only ever talk to the build process on the same machine, so
IPC (Unix domain sockets next to the kernel's connection file in Jupyter's
runtime directory) is the right transport, and it removes the warning at its
cause rather than filtering it. myst-nb and jupyter-cache create their
``KernelManager`` without a configuration object, so the default of the
``transport`` trait is the one place to set it.
"""

from __future__ import annotations


def setup(app):
    import zmq
    from jupyter_client.manager import KernelManager

    if zmq.has("ipc"):  # not on Windows: keep TCP there
        KernelManager.transport.default_value = "ipc"
    return {"parallel_read_safe": True, "parallel_write_safe": True}
