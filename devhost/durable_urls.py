"""The URLs of the Durable HTTP API and the durable client binding JSON built from them.

The binding is what the Functions host hands the Python SDK for a `durable_client_input`
parameter: the SDK sends every client call to `rpcBaseUrl` and only uses the webhook URLs to
build check-status payloads, replacing `INSTANCEID` by an instance id.
"""

from __future__ import annotations

import json
from urllib.parse import quote

WEBHOOK_PATH = "/runtime/webhooks/durabletask"
RPC_PATH = "/durabletask/"  # the RPC listener's base path; rpcBaseUrl must end with '/'
INSTANCE_ID_PLACEHOLDER = "INSTANCEID"
CONNECTION_NAME = "Storage"


def _common_query(task_hub: str, system_key: str) -> str:
    return f"taskHub={quote(task_hub)}&connection={CONNECTION_NAME}&code={quote(system_key)}"


def management_urls(
    base_url: str, task_hub: str, system_key: str, instance_id: str = INSTANCE_ID_PLACEHOLDER
) -> dict[str, str]:
    """The check-status payload: `id` and the management URLs of one instance."""
    root = f"{base_url.rstrip('/')}{WEBHOOK_PATH}/instances/{quote(instance_id, safe='')}"
    common = _common_query(task_hub, system_key)
    return {
        "id": instance_id,
        "statusQueryGetUri": f"{root}?{common}",
        "sendEventPostUri": f"{root}/raiseEvent/{{eventName}}?{common}",
        "terminatePostUri": f"{root}/terminate?reason={{text}}&{common}",
        "rewindPostUri": f"{root}/rewind?reason={{text}}&{common}",
        "purgeHistoryDeleteUri": f"{root}?{common}",
        "restartPostUri": f"{root}/restart?{common}",
        "suspendPostUri": f"{root}/suspend?reason={{text}}&{common}",
        "resumePostUri": f"{root}/resume?reason={{text}}&{common}",
    }


def creation_urls(base_url: str, system_key: str) -> dict[str, str]:
    root = f"{base_url.rstrip('/')}{WEBHOOK_PATH}/orchestrators/{{functionName}}[/{{instanceId}}]"
    code = f"code={quote(system_key)}"
    return {
        "createNewInstancePostUri": f"{root}?{code}",
        "createAndWaitOnNewInstancePostUri": (
            f"{root}?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&{code}"
        ),
    }


def client_binding_json(base_url: str, rpc_base_url: str, task_hub: str, system_key: str) -> str:
    """The JSON string the SDK's DurableOrchestrationClient is constructed from."""
    return json.dumps(
        {
            "taskHubName": task_hub,
            "creationUrls": creation_urls(base_url, system_key),
            "managementUrls": management_urls(base_url, task_hub, system_key),
            "baseUrl": f"{base_url.rstrip('/')}{WEBHOOK_PATH}",
            "requiredQueryStringParameters": _common_query(task_hub, system_key),
            "rpcBaseUrl": rpc_base_url,
            "httpBaseUrl": "",
        }
    )
