"""`dfrouter instances`: orchestration instances across lanes (`GET /api/instances`, an admin's
key), following the router's continuation tokens until the last page or --top instances."""

from __future__ import annotations

import argparse
from typing import Any, Iterator

from router.cli.api import RouterApi
from router.cli.command import CommandContext, add_command, positive_int
from router.cli.errors import ExitCode

HEADERS = ("lane", "instance id", "name", "status", "created", "last updated")
MAX_PAGE = 1000  # the router's largest page (router/validation.py check_top)


def register(subcommands: Any) -> None:
    parser = add_command(subcommands, "instances", handler=run_instances, help="list instances across lanes",
                         description=__doc__)
    parser.add_argument("--lane", metavar="L", help="only this lane (MAJOR.MINOR)")
    parser.add_argument("--status", metavar="S[,S]",
                        help="only these runtime statuses, e.g. Running,Pending (the router checks the names)")
    parser.add_argument("--top", metavar="N", type=positive_int, help="list at most N instances (default: all)")
    parser.add_argument("--page-size", metavar="N", type=positive_int, default=100,
                        help=f"instances per request, up to {MAX_PAGE} (default 100)")


def instance_pages(api: RouterApi, *, lane: str | None, status: str | None, top: int | None,
                   page_size: int) -> Iterator[dict[str, Any]]:
    """Every instance the query finds, page after page, `top` at most."""
    filters = {**({"lane": lane} if lane else {}), **({"runtimeStatus": status} if status else {})}
    listed, token = 0, None
    while top is None or listed < top:
        size = min(page_size, MAX_PAGE, top - listed if top is not None else MAX_PAGE)
        page = api.instances({**filters, "top": str(size), **({"continuationToken": token} if token else {})})
        for instance in page.get("instances") or ():
            if top is not None and listed >= top:
                return
            listed += 1
            yield instance
        token = page.get("continuationToken")
        if not token:
            return


def run_instances(args: argparse.Namespace, ctx: CommandContext) -> int:
    instances = list(instance_pages(ctx.api, lane=args.lane, status=args.status, top=args.top,
                                    page_size=args.page_size))
    if ctx.output.as_json:
        ctx.output.document({"instances": instances})
        return ExitCode.OK
    rows = [[i.get("lane"), i.get("instanceId"), i.get("name"), i.get("runtimeStatus"), i.get("createdTime"),
             i.get("lastUpdatedTime")] for i in instances]
    ctx.output.table(f"{len(rows)} instance(s)", HEADERS, rows)
    return ExitCode.OK
