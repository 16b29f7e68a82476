"""The local dev host: runs an unmodified v2-model Azure Functions Python app (HTTP triggers and
Durable Functions) without Core Tools, speaking the Functions host's protocol to the Python SDK.

`python -m devhost start [APP_DIR]` is the entry point; `devhost.testing.running_host` starts one
in tests. The durable engine lives in `devhost.engine`; this package is the host layer around it.
"""
