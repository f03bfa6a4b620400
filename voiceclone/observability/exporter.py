"""This host's metrics on a port of their own, for worker hosts (no web server there to ask):
`python -m voiceclone.observability.exporter --port 9100` (bin/serve worker starts it when METRICS_PORT
is set). It adds up the files of every process in PROMETHEUS_MULTIPROC_DIR: task wait and run times and
provider errors. The queue depth and the quota are the installation's, read by any web host's /metrics.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        parser.error("PROMETHEUS_MULTIPROC_DIR must name the directory the host's processes write to")
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    server, thread = start_http_server(args.port, addr=args.host, registry=registry)
    signal.signal(signal.SIGTERM, lambda *_: server.shutdown())
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
