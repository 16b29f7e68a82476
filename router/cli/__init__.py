"""The release CLI, `dfrouter` (or `python -m router.cli`): releases, gates and lane commands over
the router's HTTP API. It runs on pipeline agents, so it imports httpx (and rich on a terminal),
never azure.functions or the Durable SDK. Entry point: `router.cli.main`."""
