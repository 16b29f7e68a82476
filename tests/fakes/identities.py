"""A site's managed identities and the identity-based storage connection's rules (pure).

A principal is named by a user-assigned identity's resource id (lower-cased) or
`SystemAssigned:<site>`; roles granted in the fake are keyed by it. Client ids are derived from
the identity's resource id (`client_id_of`), so a test can know the one ARM would report.

Identity-based host storage (MicrosoftDocs/azure-docs `functions-reference.md`, "Connecting to
host storage with an identity"): `AzureWebJobsStorage__accountName` (or the `__blobServiceUri`,
`__queueServiceUri`, `__tableServiceUri` set), with `__credential` `managedidentity` and
`__clientId` (or `__managedIdentityResourceId`) for a user-assigned identity, else the system
identity; the identity needs data roles on the account (Storage Blob Data Owner, Storage Queue
Data Contributor, Storage Account Contributor per the same page), or the host cannot start.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

STORAGE = "AzureWebJobsStorage"
_NAMESPACE = uuid.UUID("5f0d1f2e-9a47-4d0e-9d1c-6b7a1c7e2f10")


def client_id_of(resource_id: str, kind: str = "client") -> str:
    """The client (or principal) id ARM reports for a user-assigned identity: fixed per id."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}:{resource_id.lower()}"))


@dataclass(frozen=True)
class SiteIdentities:
    site: str
    system_assigned: bool
    user_assigned: tuple[str, ...]  # resource ids, lower-cased

    def principal_of(self, identity: str) -> str | None:
        """`identity` ("SystemAssigned" or a resource id) as a principal name, if the site has it."""
        if identity.lower() == "systemassigned":
            return f"SystemAssigned:{self.site}".lower() if self.system_assigned else None
        return identity.lower() if identity.lower() in self.user_assigned else None

    def principal_of_client_id(self, client_id: str) -> str | None:
        for resource_id in self.user_assigned:
            if client_id_of(resource_id) == client_id.lower():
                return resource_id
        return None


def site_identities(site: str, identity: Mapping[str, Any] | None) -> SiteIdentities:
    identity = identity or {}
    kinds = str(identity.get("type", "")).lower().replace(" ", "")
    return SiteIdentities(
        site=site.lower(),
        system_assigned="systemassigned" in kinds,
        user_assigned=tuple(name.lower() for name in (identity.get("userAssignedIdentities") or {})),
    )


def storage_account_of(settings: Mapping[str, str]) -> str | None:
    """The account an identity-based AzureWebJobsStorage names, or None (a connection string)."""
    if settings.get(f"{STORAGE}__accountName"):
        return settings[f"{STORAGE}__accountName"].lower()
    blob = settings.get(f"{STORAGE}__blobServiceUri")
    if blob:
        return (urlsplit(blob).hostname or "").split(".")[0].lower() or None
    return None


def connection_principal(prefix: str, settings: Mapping[str, str], identities: SiteIdentities) -> tuple[str | None, str]:
    """The principal an identity-based connection `prefix` authenticates as, and how it was named."""
    client_id = settings.get(f"{prefix}__clientId")
    if client_id:
        return identities.principal_of_client_id(client_id), f"the identity with client id {client_id}"
    resource_id = settings.get(f"{prefix}__managedIdentityResourceId")
    if resource_id:
        return identities.principal_of(resource_id), f"the identity {resource_id}"
    return identities.principal_of("SystemAssigned"), "the system-assigned identity"


def storage_identity_blockers(
    settings: Mapping[str, str], identities: SiteIdentities, roles: set[tuple[str, str]]
) -> list[str]:
    """Why an identity-based AzureWebJobsStorage cannot work for this site (empty: it can)."""
    if settings.get(STORAGE):
        return []  # a connection string: nothing to check here
    account = storage_account_of(settings)
    if account is None:
        return []  # no storage at all: host_blockers says so
    principal, named = connection_principal(STORAGE, settings, identities)
    if principal is None:
        return [f"{STORAGE}: {named} is not assigned to the site"]
    if (account, principal) not in roles:
        reason = (
            f"{STORAGE}: {named} holds no data role on storage account {account!r} "
            "(403 AuthorizationPermissionMismatch from the storage account)"
        )
        return [reason]
    return []
