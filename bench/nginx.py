"""nginx as the bench's plain reverse proxy: its own process, a generated config, one upstream.

`proxy_pass` to the lane over pooled keep-alive connections (HTTP/1.1 upstream, Connection
cleared), one worker process, no access log: the reference a forwarding hot path is held to.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.proc import children
from bench.setup import tool
from devhost.ports import free_port

CONFIG = """\
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream lane {{
        server {upstream};
        keepalive 128;
    }}
    server {{
        listen 127.0.0.1:{port};
        keepalive_requests 1000000;
        location / {{
            proxy_pass http://lane;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
        }}
    }}
}}
"""


def config(root: Path, upstream: str, port: int) -> str:
    """nginx.conf proxying 127.0.0.1:`port` to `upstream` (host:port), with every path under `root`."""
    return CONFIG.format(root=root, upstream=upstream, port=port)


@contextmanager
def running_nginx(upstream: str, root: Path) -> Iterator[tuple[str, list[int]]]:
    """nginx in front of `upstream`; yields (its base URL, its pids: master and worker)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(config(root, upstream, port))
    process = subprocess.Popen([tool("nginx"), "-p", str(root), "-c", str(conf), "-e", str(root / "error.log")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited: {process.stderr.read().decode(errors='replace')[-2000:]}")  # type: ignore[union-attr]
            try:
                httpx.get(base_url + "/admin/host/ping", timeout=1, trust_env=False)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not answer within 10 s") from None
                time.sleep(0.05)
        yield base_url, [process.pid, *children(process.pid)]
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
