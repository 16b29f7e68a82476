"""Host keys: generated into DATA/keys.json at first start, checked on every request.

The file format and the DEVHOST_* overrides are fixed by docs/architecture.md. Keys are secrets:
nothing here logs them or puts them in an exception message.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from devhost.errors import ConfigError

KEYS_FILE = "keys.json"
DURABLE_SYSTEM_KEY = "durabletask_extension"
KEY_HEADER = "x-functions-key"
KEY_QUERY = "code"

# Setting name -> which key it replaces.
MASTER_KEY_SETTING = "DEVHOST_MASTER_KEY"
FUNCTION_KEY_SETTING = "DEVHOST_FUNCTION_KEY"
DURABLE_KEY_SETTING = "DEVHOST_DURABLETASK_KEY"


class AuthLevel(Enum):
    ANONYMOUS = "anonymous"
    FUNCTION = "function"
    ADMIN = "admin"


def new_key() -> str:
    # 42 random bytes -> 56 URL-safe characters: the length of Azure's generated keys.
    return secrets.token_urlsafe(42)


@dataclass
class HostKeys:
    master_key: str
    function_keys: dict[str, str] = field(default_factory=dict)  # host keys, usable by any function
    system_keys: dict[str, str] = field(default_factory=dict)
    functions: dict[str, dict[str, str]] = field(default_factory=dict)  # per-function keys

    @property
    def default_function_key(self) -> str:
        return self.function_keys["default"]

    @property
    def durable_system_key(self) -> str:
        return self.system_keys[DURABLE_SYSTEM_KEY]

    def to_json(self) -> dict[str, object]:
        return {
            "masterKey": self.master_key,
            "functionKeys": dict(self.function_keys),
            "systemKeys": dict(self.system_keys),
            "functions": {name: dict(keys) for name, keys in self.functions.items()},
        }

    @classmethod
    def from_json(cls, doc: object, *, where: str) -> HostKeys:
        if not isinstance(doc, dict) or not isinstance(doc.get("masterKey"), str):
            raise ConfigError(f"{where} is not a keys file (no masterKey)")

        def str_map(value: object, name: str) -> dict[str, str]:
            if value is None:
                return {}
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in value.items()
            ):
                raise ConfigError(f"{where}: {name} must map names to key strings")
            return dict(value)

        raw_functions = doc.get("functions") or {}
        if not isinstance(raw_functions, dict):
            raise ConfigError(f"{where}: functions must be an object")
        return cls(
            master_key=doc["masterKey"],
            function_keys=str_map(doc.get("functionKeys"), "functionKeys"),
            system_keys=str_map(doc.get("systemKeys"), "systemKeys"),
            functions={n: str_map(v, f"functions.{n}") for n, v in raw_functions.items()},
        )

    # --- checks -------------------------------------------------------------------------------

    def is_master(self, key: str | None) -> bool:
        return key is not None and _same(key, self.master_key)

    def is_durable_system(self, key: str | None) -> bool:
        """The Durable HTTP API accepts its system key or the master key."""
        system_key = self.system_keys.get(DURABLE_SYSTEM_KEY)
        return self.is_master(key) or (key is not None and system_key is not None and _same(key, system_key))

    def authorizes(self, level: AuthLevel, key: str | None, function_name: str) -> bool:
        """Whether `key` may call a function with that auth level (Azure's rules)."""
        if level is AuthLevel.ANONYMOUS:
            return True
        if key is None:
            return False
        if self.is_master(key):
            return True
        if level is AuthLevel.ADMIN:
            return False
        own = self.functions.get(function_name, {}).values()
        return any(_same(key, value) for value in (*self.function_keys.values(), *own))


def _same(a: str, b: str) -> bool:
    # Constant-time comparison, so a wrong key teaches nothing about the right one.
    return hmac.compare_digest(a.encode(), b.encode())


def keys_path(data_dir: Path) -> Path:
    return data_dir / KEYS_FILE


def load_or_create_keys(
    data_dir: Path,
    *,
    function_names: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> HostKeys:
    """Read DATA/keys.json, generating missing keys, applying DEVHOST_* overrides, saving it.

    The file always holds the effective keys, so `devhost keys` and tests read what the host
    checks against.
    """
    environ = os.environ if environ is None else environ
    path = keys_path(data_dir)
    if path.is_file():
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise ConfigError(f"{path} is not valid JSON; delete it to generate new keys") from None
        keys = HostKeys.from_json(doc, where=str(path))
    else:
        keys = HostKeys(master_key=new_key())
    keys.function_keys.setdefault("default", new_key())
    keys.system_keys.setdefault(DURABLE_SYSTEM_KEY, new_key())
    for name in function_names:
        keys.functions.setdefault(name, {"default": new_key()})
    if environ.get(MASTER_KEY_SETTING):
        keys.master_key = environ[MASTER_KEY_SETTING]
    if environ.get(FUNCTION_KEY_SETTING):
        keys.function_keys["default"] = environ[FUNCTION_KEY_SETTING]
    if environ.get(DURABLE_KEY_SETTING):
        keys.system_keys[DURABLE_SYSTEM_KEY] = environ[DURABLE_KEY_SETTING]
    save_keys(data_dir, keys)
    return keys


def save_keys(data_dir: Path, keys: HostKeys) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = keys_path(data_dir)
    tmp = path.with_suffix(".tmp")
    # Owner-only from creation: the file holds secrets.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(keys.to_json(), out, indent=2)
        out.write("\n")
    os.replace(tmp, path)
