"""The pipeline examples (examples/*/release.yml) against the real command-line parsers.

Each `python -m router.cli ...` and `python -m provisioning package ...` line the pipelines run
is parsed with the parser the command itself builds, so a renamed option or subcommand fails
here and not in a user's first release.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from provisioning import packaging
from router.cli.main import build_parser
from tests.infra.bicep_reader import BicepFile

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = {
    "github-actions": ROOT / "examples" / "github-actions" / "release.yml",
    "azure-pipelines": ROOT / "examples" / "azure-pipelines" / "release.yml",
}
COMMANDS = ("python -m router.cli", "python -m provisioning")
_SHELL_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "2>&1"}
# $VAR, ${VAR}, $(VAR) (an Azure Pipelines macro) or ${{ expression }} (GitHub): as one token.
_VARIABLE = re.compile(r"^\$(\{\{.*\}\}|\{(\w+)\}|\((\w+)\)|(\w+))$")


def scripts(node: object) -> Iterator[str]:
    """Every string in the pipeline that runs something: run, bash, script, inlineScript."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("run", "bash", "script", "inlineScript") and isinstance(value, str):
                yield value
            else:
                yield from scripts(value)
    elif isinstance(node, list):
        for item in node:
            yield from scripts(item)


def sample(token: str) -> str:
    """A value of the right shape for a pipeline variable, so typed options parse as in a run."""
    match = _VARIABLE.match(token)
    if not match:
        return token
    name = next((group for group in match.groups()[1:] if group), match[1]).upper()
    if "SHA" in name:
        return "0" * 64
    if "ROUTER" in name:
        return "https://func-prod-router.azurewebsites.net"
    if "URL" in name:
        return "https://stpkgabc.blob.core.windows.net/packages/app-1.0.1.zip"
    if "VERSION" in name:
        return "1.0.1"
    if "LANE" in name:
        return "1.0"
    return "app"


def command_lines(path: Path) -> list[list[str]]:
    """The argument lists after `python -m` of every command of COMMANDS in the pipeline."""
    found = []
    for script in scripts(yaml.safe_load(path.read_text(encoding="utf-8"))):
        for line in script.replace("\\\n", " ").splitlines():
            for prefix in COMMANDS:
                if prefix in line:
                    words = shlex.split(line[line.index(prefix):], comments=True)
                    cut = next((i for i, word in enumerate(words) if word in _SHELL_OPERATORS), len(words))
                    found.append([sample(word) for word in words[2:cut]])
    return found


def provisioning_parser() -> argparse.ArgumentParser:
    """`python -m provisioning`'s `package` subcommand, as packaging registers it there."""
    parser = argparse.ArgumentParser(prog="python -m provisioning")
    packaging.add_command(parser.add_subparsers(dest="command", required=True))
    return parser


def subcommands(parser: argparse.ArgumentParser) -> set[str]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(action.choices)


def parse(argv: list[str]) -> argparse.Namespace:
    module, args = argv[0], argv[1:]
    parser = build_parser() if module == "router.cli" else provisioning_parser()
    try:
        return parser.parse_args(args)
    except SystemExit:
        pytest.fail(f"python -m {shlex.join(argv)} does not parse")


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_every_command_the_pipeline_runs_parses(pipeline):
    lines = command_lines(PIPELINES[pipeline])
    # check-patch alone may be missing until issue 15 adds it (test_the_patch_gate_runs_before_the_release).
    pending = {"check-patch"} - subcommands(build_parser())
    parsed = [parse(argv) for argv in lines if argv[:2] not in (["router.cli", name] for name in pending)]
    assert len(parsed) >= 2  # at least the package build and the release


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_the_pipeline_builds_the_package_it_uploads(pipeline):
    builds = [parse(argv) for argv in command_lines(PIPELINES[pipeline]) if argv[:2] == ["provisioning", "package"]]
    assert [str(args.out) for args in builds] == ["app.zip"]
    text = PIPELINES[pipeline].read_text(encoding="utf-8")
    assert "sha256sum app.zip" in text
    assert "az storage blob upload --auth-mode login" in text
    assert "--file app.zip" in text


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_the_pipeline_waits_for_the_release_with_its_sha256(pipeline):
    releases = [parse(argv) for argv in command_lines(PIPELINES[pipeline]) if argv[:2] == ["router.cli", "release"]]
    assert len(releases) == 2  # a patch's, with its replay check, and a new lane's
    for release in releases:
        assert release.wait  # the CLI exits non-zero when the release fails: the run fails
        assert release.sha256 == "0" * 64
        assert release.package.startswith("https://") and "?" not in release.package  # no SAS


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_a_patch_release_posts_the_replay_check_the_patch_gate_wrote(pipeline):
    """With ROUTER_PATCH_GATE=require the router takes a patch only with a passing replayCheck of
    its package (router/patch_gate.py): the gate's output file is what `release --replay-check` reads."""
    text = PIPELINES[pipeline].read_text(encoding="utf-8")
    lines = command_lines(PIPELINES[pipeline])
    gate_line = next(line for line in text.splitlines() if "router.cli check-patch" in line)
    assert gate_line.rstrip().endswith("| tee check-patch.txt")
    checked = [parse(argv).replay_check for argv in lines if argv[:2] == ["router.cli", "release"]]
    assert sorted(str(path) for path in checked) == ["None", "check-patch.txt"]
    patch_branch = text.split('if [ "$PATCH" != "0" ]; then', 1)[1].split("else", 1)[0]
    assert "--replay-check check-patch.txt" in patch_branch
    # The tee must not hide the gate's failure: pipefail. GitHub runs an explicit `shell: bash` as
    # `bash --noprofile --norc -eo pipefail {0}`, but a step without `shell` as `bash -e {0}`
    # (docs.github.com/actions/reference/workflow-syntax-for-github-actions#jobsjob_idstepsshell).
    (gate,) = steps_running(yaml.safe_load(text), "router.cli check-patch")
    script = gate.get("run") or gate.get("bash") or ""
    assert gate.get("shell") == "bash" or script.startswith("set -euo pipefail\n")


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_the_router_key_comes_from_the_environment_only(pipeline):
    # On a command line the key would show in the run's log and in the process list.
    for argv in command_lines(PIPELINES[pipeline]):
        assert not any(word == "--key" or word.startswith("--key=") for word in argv)
    assert "DFROUTER_KEY" in PIPELINES[pipeline].read_text(encoding="utf-8")


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_the_patch_gate_runs_before_the_release(pipeline):
    lines = command_lines(PIPELINES[pipeline])
    names = [argv[1] for argv in lines if argv[0] == "router.cli"]
    assert names.index("check-patch") < names.index("release")
    if "check-patch" not in subcommands(build_parser()):
        pytest.skip("router.cli has no check-patch yet (issue 15): its options are not checked")
    gate = parse(next(argv for argv in lines if argv[1:2] == ["check-patch"]))
    assert gate.lane == "1.0"


def test_azure_pipelines_scripts_stop_at_the_first_failing_command():
    # GitHub runs `bash -e -o pipefail`; an Azure Pipelines bash step fails only on its last
    # command's status unless told otherwise.
    for script in scripts(yaml.safe_load(PIPELINES["azure-pipelines"].read_text(encoding="utf-8"))):
        if len(script.strip().splitlines()) > 1:
            assert script.startswith("set -euo pipefail\n"), script.splitlines()[0]


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_what_the_pipeline_needs_is_what_azd_up_outputs(pipeline):
    # Its header tells the user to copy these from `azd env get-values`: main.bicep's outputs.
    text = PIPELINES[pipeline].read_text(encoding="utf-8")
    outputs = set(BicepFile(ROOT / "infra" / "main.bicep").outputs())
    for name in ("DFROUTER_URL", "PACKAGE_STORAGE_ACCOUNT", "PACKAGE_CONTAINER"):
        assert name in outputs and name in text
    assert "DFROUTER_PIPELINE_PRINCIPAL_ID" in text


def test_every_azd_variable_the_readme_sets_is_a_template_parameter():
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## Deploy with azd\n", 1)[1]
    named = set(re.findall(r"azd env set (\w+)", section))
    parameters = (ROOT / "infra" / "main.parameters.json").read_text(encoding="utf-8")
    assert named and {name for name in named if "${" + name not in parameters} == set()


def steps_running(node: object, command: str) -> Iterator[dict]:
    """Every step (a mapping with a script) whose script runs `command`."""
    if isinstance(node, dict):
        if any(command in value for key, value in node.items() if key in ("run", "bash", "script")
               and isinstance(value, str)):
            yield node
        for value in node.values():
            yield from steps_running(value, command)
    elif isinstance(node, list):
        for item in node:
            yield from steps_running(item, command)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_each_step_gets_the_key_of_its_role(pipeline):
    # Keys belong to one role (README "Keys and roles"): check-patch reads the lane's histories
    # (an admin's route), release posts releases (a pipeline's). Another role's key is a 403.
    document = yaml.safe_load(PIPELINES[pipeline].read_text(encoding="utf-8"))
    (gate,) = steps_running(document, "router.cli check-patch")
    (release,) = steps_running(document, "router.cli release")
    assert "DFROUTER_ADMIN_KEY" in gate["env"]["DFROUTER_KEY"]
    release_key = release.get("env", {}).get("DFROUTER_KEY") or document["jobs"]["release"]["env"]["DFROUTER_KEY"]
    assert "DFROUTER_KEY" in release_key and "ADMIN" not in release_key


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_the_first_patch_number_of_a_new_minor_passes_the_gate_and_releases_without_a_check(pipeline, tmp_path):
    """The gate runs for PATCH > 0, so the first release of a new MINOR numbered x.y.1 meets a lane
    the router does not know: check-patch says so and exits 0 (tests/cli/test_cli_ramp_and_replay_check.py),
    and the patch branch's `release --replay-check check-patch.txt` then sends no replayCheck."""
    import io

    from router.cli import check_patch
    from router.cli.output import Output, RedactingStream
    from router.cli.release import release_body

    out = io.StringIO()
    output = Output(RedactingStream(out, []), RedactingStream(io.StringIO(), []), as_json=False, fancy=False)
    lines = command_lines(PIPELINES[pipeline])
    gate = parse(next(argv for argv in lines if argv[1:2] == ["check-patch"]))
    check_patch._not_a_patch(type("Ctx", (), {"output": output})(), gate.lane, "unknown_lane")  # type: ignore[arg-type]
    (tmp_path / "check-patch.txt").write_text(out.getvalue(), encoding="utf-8")  # what `| tee` keeps
    (release,) = [parse(argv) for argv in lines if argv[:2] == ["router.cli", "release"] and "--replay-check" in argv]
    release.replay_check = tmp_path / str(release.replay_check)
    body = release_body(release)
    assert "replayCheck" not in body and body["sha256"] == "0" * 64
