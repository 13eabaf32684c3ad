"""The integration-test harness: everything test_*.py files share.

    import harness as h                      # the common names below, as h.NAME
    from harness import upstream as ru       # the raw recording upstream (hardening tests)
    from harness.egress import Scenario      # the egress fixture
    from harness.h2 import H2Conn            # the raw HTTP/2 client
    from harness.servers import Listener     # base of every threaded test server
    from harness.wire import http_exchange   # raw HTTP/1.1 bytes on a socket

Modules: procs (processes, ports, waiting, TestEnv), pki, nginx, gateway, clients, topology (the
standard three-tenant setup), metrics (the one /metrics parser), upstream (raw upstream), dns
(DNS stub), egress, h2, servers (the threaded listener test servers derive from), wire (raw
HTTP/1.1 client reads). Test files import from here, never from one another.
"""

from .procs import *  # noqa: F401,F403
from .pki import *  # noqa: F401,F403
from .nginx import *  # noqa: F401,F403
from .gateway import *  # noqa: F401,F403
from .clients import *  # noqa: F401,F403
from .topology import *  # noqa: F401,F403
from .metrics import *  # noqa: F401,F403
