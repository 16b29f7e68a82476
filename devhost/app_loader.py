"""Import an app's function_app.py and discover its functions through the SDK's own objects.

As the Python worker does: the module must define exactly one function app (a
`func.FunctionApp`, `df.DFApp` or any `FunctionRegister`); `get_functions()` is called once
(a second call fails in the SDK) and each Function's trigger says what it is.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.functions.decorators.function_app import FunctionRegister

from devhost.engine.registry import (
    ActivityFunction,
    EntityFunction,
    OrchestratorFunction,
    Registry,
    durable_name,
)
from devhost.errors import AppLoadError, RouteTemplateError
from devhost.keys import AuthLevel
from devhost.routes import RouteTemplate

log = logging.getLogger("devhost.app")

ALL_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class HttpFunction:
    """An HTTP-triggered function and what the host must pass it."""

    name: str
    route: RouteTemplate
    methods: frozenset[str]
    auth_level: AuthLevel
    func: Callable[..., Any]
    request_param: str
    client_param: str | None  # the durable client binding's parameter, if any
    wants_context: bool
    is_async: bool

    def allows(self, method: str) -> bool:
        return method.upper() in self.methods


@dataclass
class AppFunctions:
    """Every function of the app, grouped by how the host runs it."""

    http: list[HttpFunction] = field(default_factory=list)
    orchestrators: dict[str, Callable[[str], str]] = field(default_factory=dict)  # name -> handle
    activities: dict[str, tuple[Callable[..., Any], str]] = field(default_factory=dict)  # (func, input)
    activity_clients: dict[str, str] = field(default_factory=dict)  # activity -> client parameter
    # lower-cased name -> (name, handle)
    entities: dict[str, tuple[str, Callable[[str], str]]] = field(default_factory=dict)
    other: dict[str, str] = field(default_factory=dict)  # function name -> unsupported trigger type
    # The durable client binding JSON, known once the host listens; activities with a
    # durableClient input binding (allowed on any function in Azure) get it at call time.
    client_binding: str = ""

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.http]

    def registry(self) -> Registry:
        """The engine's view of the durable functions."""
        return Registry(
            orchestrators={n: OrchestratorFunction(n, h) for n, h in self.orchestrators.items()},
            activities={
                n: ActivityFunction(n, self._with_client(n, f), p) for n, (f, p) in self.activities.items()
            },
            entities={k: EntityFunction(n, h) for k, (n, h) in self.entities.items()},
        )

    def _with_client(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        param = self.activity_clients.get(name)
        if param is None:
            return function
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def call_async(**kwargs: Any) -> Any:
                return await function(**kwargs, **{param: self.client_binding})

            return call_async

        @functools.wraps(function)
        def call(**kwargs: Any) -> Any:
            return function(**kwargs, **{param: self.client_binding})

        return call


# Where a deployed app's dependencies live, relative to the app's root: the Python worker puts
# it first on sys.path (azure-functions-python-worker, python/prodV4/worker.py PKGS_PATH and
# PKGS; azure_functions_worker/utils/dependency.py DependencyManager puts the customer's
# dependencies before the worker's).
APP_PACKAGES = Path(".python_packages") / "lib" / "site-packages"


def app_import_paths(app_dir: Path) -> list[Path]:
    """What goes first on sys.path for the app, in order: its packaged dependencies (when it has
    them), then its own directory."""
    packages = app_dir / APP_PACKAGES
    return [packages, app_dir] if packages.is_dir() else [app_dir]


def import_app_module(app_dir: Path, script_file: str) -> Any:
    """Import APP_DIR/<script_file> as a top-level module, with the app's packaged dependencies
    and APP_DIR first on sys.path."""
    path = app_dir / script_file
    if not path.is_file():
        raise AppLoadError(f"{path} not found: is {app_dir} a v2-model Python Functions app?")
    for entry in reversed(app_import_paths(app_dir)):
        if str(entry) not in sys.path:
            sys.path.insert(0, str(entry))
    module_name = path.stem
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise AppLoadError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's import-time error, reported with its traceback
        sys.modules.pop(module_name, None)
        hint = ""
        if isinstance(exc, ModuleNotFoundError) and not (app_dir / APP_PACKAGES).is_dir():
            # What a package deployed without its dependencies does on Azure (run from package
            # installs nothing): say where they were expected.
            hint = (
                f"; the app has no {APP_PACKAGES.as_posix()} (a package must carry its "
                "dependencies there: `python -m provisioning package`)"
            )
        raise AppLoadError(f"importing {path} failed: {type(exc).__name__}: {exc}{hint}") from exc
    return module


def find_function_app(module: Any) -> FunctionRegister:
    """The one function app object the module defines (the worker's rule)."""
    apps = {id(v): v for v in vars(module).values() if isinstance(v, FunctionRegister)}
    if not apps:
        raise AppLoadError(
            f"{module.__file__} defines no function app: create one with "
            "`app = func.FunctionApp()` or `app = df.DFApp()`"
        )
    if len(apps) > 1:
        raise AppLoadError(f"{module.__file__} defines {len(apps)} function apps; define exactly one")
    return next(iter(apps.values()))


def _binding_type(binding: Any) -> str:
    """The binding's `type` as the host's binding metadata carries it (function.json's "type"),
    whichever decorator declared it: the worker reads BindingInfo.type, never the Python class
    (azure-functions-python-worker, azure_functions_worker/functions.py, validate_function_params
    over `binding_info.type`; loader.py builds the metadata from `get_raw_bindings()`). So a
    plain `generic_input_binding(type="durableClient")` is a client binding like the SDK's
    `durable_client_input` (whose DurableClient class spells the same type)."""
    return str(binding.get_dict_repr()["type"])


def _client_param(fn: func.Function) -> str | None:
    """The parameter of the function's durable client input binding, if it has one."""
    return next((b.name for b in fn.get_bindings() if _binding_type(b) == "durableClient"), None)


def _auth_level(trigger: Any) -> AuthLevel:
    level = getattr(trigger, "auth_level", None)
    value = getattr(level, "value", level) or "function"
    try:
        return AuthLevel(str(value).lower())
    except ValueError:
        raise AppLoadError(f"unknown auth level {value!r}") from None


def _methods(trigger: Any) -> frozenset[str]:
    methods = getattr(trigger, "methods", None)
    if not methods:
        return ALL_METHODS
    return frozenset(str(getattr(m, "value", m)).upper() for m in methods)


def _http_function(fn: func.Function, trigger: Any) -> HttpFunction:
    name = fn.get_function_name() or ""
    user = fn.get_user_function()
    client_param = _client_param(fn)
    # The durable client middleware is functools.wraps'ed, so this reads the user's signature.
    parameters = inspect.signature(user).parameters
    try:
        route = RouteTemplate(trigger.route if trigger.route is not None else name)
    except RouteTemplateError as exc:
        raise AppLoadError(f"function {name}: {exc}") from None
    return HttpFunction(
        name=name,
        route=route,
        methods=_methods(trigger),
        auth_level=_auth_level(trigger),
        func=user,
        request_param=trigger.name,
        client_param=client_param,
        wants_context="context" in parameters,
        is_async=inspect.iscoroutinefunction(user),
    )


def check_parameters(fn: func.Function) -> None:
    """Refuse a function whose parameters and bindings differ, as the Python worker refuses to
    index it (azure-functions-python-worker, azure_functions_worker/functions.py,
    Registry.validate_function_params, raising FunctionLoadError): e.g. a durable_client_input
    stacked on a function that has no parameter of that name."""
    name = fn.get_function_name() or ""
    trigger = fn.get_trigger()
    if trigger is not None and _binding_type(trigger) in ("orchestrationTrigger", "entityTrigger"):
        return  # the SDK hands the worker its own handle(context) for these, not the user's code
    params = dict(inspect.signature(fn.get_user_function()).parameters)
    bound = {b.name for b in fn.get_bindings() if b.name != "$return"}
    if "context" in params and "context" not in bound:
        params.pop("context")  # the worker passes its invocation context to `context`
    undeclared = set(params) - bound
    unbound = bound - set(params)
    problem = None
    if undeclared:
        problem = f"the following parameters are declared in Python but not in function.json: {undeclared!r}"
    elif unbound:
        problem = f"the following parameters are declared in function.json but not in Python: {unbound!r}"
    if problem is not None:
        raise AppLoadError(f"FunctionLoadError: cannot load the {name} function: {problem}")


def discover(app: FunctionRegister) -> AppFunctions:
    """Group the app's functions by trigger. Calls `app.get_functions()` exactly once."""
    found = AppFunctions()
    try:
        functions = app.get_functions()
    except ValueError as exc:  # e.g. two functions with one name
        raise AppLoadError(str(exc)) from None
    for fn in functions:
        check_parameters(fn)
        trigger = fn.get_trigger()
        name = fn.get_function_name() or ""
        if trigger is None:
            found.other[name] = "no trigger"
            continue
        kind = _binding_type(trigger)
        if kind == "httpTrigger":
            found.http.append(_http_function(fn, trigger))
        elif kind == "orchestrationTrigger":
            found.orchestrators[durable_name(kind, trigger, name)] = fn.get_user_function()
        elif kind == "activityTrigger":
            activity_name = durable_name(kind, trigger, name)
            found.activities[activity_name] = (fn.get_user_function(), trigger.name)
            client_param = _client_param(fn)
            if client_param is not None:
                found.activity_clients[activity_name] = client_param
        elif kind == "entityTrigger":
            entity_name = durable_name(kind, trigger, name)
            found.entities[entity_name.lower()] = (entity_name, fn.get_user_function())
        else:
            found.other[name] = kind
    # Most specific routes first, as ASP.NET orders them; stable for equal precedence.
    found.http.sort(key=lambda f: f.route.precedence)
    return found


def load_app(app_dir: Path, script_file: str = "function_app.py") -> AppFunctions:
    return discover(find_function_app(import_app_module(app_dir, script_file)))
