"""docker-compose.yml checked by parsing (there is no Docker engine here): every command names something
that exists, every build has its Dockerfile, every ${VAR} is in .env.example, ports stay on loopback,
start order waits on health, and the workspace files load the code location."""

from __future__ import annotations

import functools
import importlib.util
import re
import shlex
import subprocess
from pathlib import Path, PurePosixPath

import pytest
import yaml

from vodrec_assets_tests.integration.harness import BIN, REPO, clean_env

COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DAGSTER_CLIS = {"dagster", "dagster-webserver", "dagster-daemon"}


@functools.cache
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict[str, dict]:
    return compose()["services"]


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example line without '=': {line!r}"
            values[name.strip()] = value.strip()
    return values


def as_argv(command) -> list[str]:
    return list(command) if isinstance(command, list) else shlex.split(command)


def shell_pieces(argv: list[str]) -> list[list[str]]:
    """`sh -c "a && exec b"` -> [[a...], [b...]]; any other argv -> [argv]."""
    if argv[:2] in (["sh", "-c"], ["bash", "-c"], ["/bin/sh", "-c"]):
        pieces = []
        for part in re.split(r"&&|;|\|\|", argv[2]):
            words = shlex.split(part)
            if words and words[0] == "exec":
                words = words[1:]
            if words:
                pieces.append(words)
        return pieces
    return [argv]


# ----------------------------------------------------------------- files inside the image


def dockerfile_of(service: dict) -> Path | None:
    build = service.get("build")
    if build is None:
        return None
    if isinstance(build, str):
        return REPO / build / "Dockerfile"
    return REPO / build.get("context", ".") / build.get("dockerfile", "Dockerfile")


def copies_into_image(dockerfile: Path, context: Path = REPO) -> dict[str, Path]:
    """Container path -> build-context path of every `COPY src... dest` (not `--from` a stage)."""
    mapping = {}
    workdir = PurePosixPath("/")
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        keyword = line.split(None, 1)[0].upper() if line else ""
        if keyword == "WORKDIR":
            workdir = workdir / line.split(None, 1)[1]
        if keyword != "COPY" or "--from=" in line:
            continue
        *sources, dest = [p for p in shlex.split(line)[1:] if not p.startswith("--")]
        target = PurePosixPath(dest) if dest.startswith("/") else workdir / dest
        for src in sources:
            into = target / PurePosixPath(src).name if (dest.endswith("/") or len(sources) > 1) else target
            mapping[str(into)] = context / src
    return mapping


def bind_mounts(service: dict) -> dict[str, Path]:
    mapping = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            src, _, rest = volume.partition(":")
            if src.startswith("./") or src.startswith("/"):
                mapping[rest.split(":")[0]] = (REPO / src).resolve()
    return mapping


def container_files(service: dict) -> dict[str, Path]:
    files = {}
    dockerfile = dockerfile_of(service)
    if dockerfile is not None:
        files.update(copies_into_image(dockerfile))
    files.update(bind_mounts(service))  # a bind mount hides what the image holds there
    return files


# ----------------------------------------------------------------- CLI checks


@functools.cache
def cli_root(exe: str):
    """The click command behind a console script (`dagster` -> dagster._cli.cli), as installed here;
    the image installs the same packages."""
    import importlib.metadata

    entry = next((e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == exe), None)
    assert entry is not None, f"no console script {exe!r} installed"
    return importlib.import_module(entry.module).cli


def check_dagster_cli(argv: list[str]) -> None:
    """Resolve the command path (hidden commands such as `dagster api` included) and parse the
    arguments with click exactly as the CLI would, without running it: unknown commands or options,
    wrong types and missing required arguments fail."""
    import click

    cmd, rest = cli_root(argv[0]), list(argv[1:])
    ctx = click.Context(cmd, info_name=argv[0])
    path = [argv[0]]
    while isinstance(cmd, click.Group) and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        sub = cmd.get_command(ctx, name)
        assert sub is not None, f"`{' '.join(path)}` has no command {name!r}"
        cmd, ctx = sub, click.Context(sub, info_name=name, parent=ctx)
        path.append(name)
    assert not isinstance(cmd, click.Group), f"{argv}: `{' '.join(path)}` is a group, not a command"
    try:
        cmd.make_context(" ".join(path), rest)
    except click.ClickException as exc:
        pytest.fail(f"`{' '.join(argv)}`: {exc.format_message()}")


@functools.cache
def check_module(module: str) -> None:
    assert importlib.util.find_spec(module) is not None, f"module {module} not found"
    # Imported in a fresh interpreter (the local environment), so a broken import fails here.
    result = subprocess.run([str(BIN / "python"), "-c", f"import {module}"], capture_output=True, text=True,
                            timeout=300, env=clean_env(), cwd=REPO)
    assert result.returncode == 0, f"import {module} failed: {result.stderr[-3000:]}"


def check_paths_exist(name: str, service: dict, argv: list[str]) -> None:
    files = container_files(service)
    for word in argv:
        if word.startswith("/opt/") or word.endswith((".py", ".yaml", ".yml")):
            assert word in files, f"{name}: {word} is neither copied into the image nor mounted"
            assert files[word].is_file(), f"{name}: {word} comes from {files[word]}, which does not exist"


def check_command(name: str, service: dict, argv: list[str]) -> None:
    for piece in shell_pieces(argv):
        exe = piece[0]
        check_paths_exist(name, service, piece)
        if exe in DAGSTER_CLIS:
            files = container_files(service)
            check_dagster_cli([str(files[w]) if w in files else w for w in piece])
            if "-m" in piece:
                check_module(piece[piece.index("-m") + 1])
        elif exe == "python":
            if piece[1] == "-c":
                compile(piece[2], f"<{name} python -c>", "exec")
            else:
                assert piece[1] in container_files(service), f"{name}: {piece[1]} is not in the image"
        elif service.get("build") is not None:
            pytest.fail(f"{name}: unexpected executable {exe!r} in a command of the project image")


# ----------------------------------------------------------------- tests


def test_compose_parses_and_lists_the_whole_service():
    assert set(services()) >= {"mysql", "s3", "createbucket", "code", "webserver", "daemon"}
    for name, service in services().items():
        assert service.get("image") or service.get("build"), f"{name} has neither image nor build"


def test_every_build_has_its_dockerfile_and_every_copy_source_exists():
    builds = [(n, dockerfile_of(s)) for n, s in services().items() if s.get("build")]
    assert builds
    for name, dockerfile in builds:
        assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
        text = dockerfile.read_text()
        assert "LIGHTFM_NO_CFLAGS=1" in text, "LightFM must be built without -march=native"
        for container_path, source in copies_into_image(dockerfile).items():
            assert source.exists(), f"{name}: COPY source {source} (to {container_path}) missing"


@pytest.mark.integration
@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", ["createbucket", "code", "webserver", "daemon"])
def test_project_image_commands_and_healthchecks_name_real_things(name):
    service = services()[name]
    check_command(name, service, as_argv(service["command"]))
    health = service.get("healthcheck", {}).get("test")
    if health:
        assert health[0] in ("CMD", "CMD-SHELL")
        argv = health[1:] if health[0] == "CMD" else ["sh", "-c", health[1]]
        check_command(name, service, argv)


def test_third_party_services_mount_files_that_exist():
    for name, service in services().items():
        for container_path, host_path in bind_mounts(service).items():
            assert host_path.exists(), f"{name}: {host_path} (mounted at {container_path}) missing"
    init = bind_mounts(services()["mysql"])["/docker-entrypoint-initdb.d"]
    scripts = sorted(init.glob("*.sh")) + sorted(init.glob("*.sql"))
    assert scripts, "no MySQL init script"
    for script in scripts:
        assert not re.search(r"IDENTIFIED BY '[^$]", script.read_text()), f"{script} holds a literal password"


def test_every_variable_is_listed_in_env_example():
    text = COMPOSE_FILE.read_text().replace("$$", "")
    braced = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    bare = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text))
    assert bare <= braced, f"unbraced variables: {sorted(bare - braced)}"
    listed = env_example()
    missing = sorted(braced - set(listed))
    assert not missing, f"used in docker-compose.yml but not in .env.example: {missing}"
    # Required ones (${VAR:?...}) must have a placeholder, and secrets only a placeholder.
    for required in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?", text):
        assert listed[required], f"{required} is required but has no placeholder"
    for name, value in listed.items():
        if re.search(r"PASSWORD|SECRET", name):
            assert value == "changeme", f"{name} in .env.example must be the placeholder 'changeme'"


def test_every_env_example_variable_is_documented():
    doc = (REPO / "docs" / "deploy.md").read_text()
    undocumented = [name for name in env_example() if f"`{name}`" not in doc]
    assert not undocumented, f"not documented in docs/deploy.md: {undocumented}"


def test_published_ports_are_loopback_only():
    published = 0
    for name, service in services().items():
        for port in service.get("ports", []):
            published += 1
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name}: port {port} is not bound to 127.0.0.1"
    assert published >= 1


def test_start_order_waits_on_health():
    svc = services()
    for name, service in svc.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on must give a condition for each service"
        for target, spec in depends.items():
            assert target in svc, f"{name} depends on unknown service {target}"
            condition = spec.get("condition")
            if condition == "service_healthy":
                assert svc[target].get("healthcheck", {}).get("test"), f"{name} waits on {target}'s health, which has none"
            elif condition == "service_completed_successfully":
                assert svc[target].get("restart") == "no", f"{target} is awaited to finish but restarts"
            else:
                pytest.fail(f"{name} -> {target}: condition {condition!r} does not wait for readiness")
        if service.get("restart") != "no":
            assert service.get("healthcheck", {}).get("test"), f"long-running service {name} has no healthcheck"
    assert svc["webserver"]["depends_on"]["code"]["condition"] == "service_healthy"
    assert svc["daemon"]["depends_on"]["code"]["condition"] == "service_healthy"
    assert svc["code"]["depends_on"]["mysql"]["condition"] == "service_healthy"


def test_state_lives_in_named_volumes():
    declared = set(compose().get("volumes") or {})
    used = set()
    for service in services().values():
        for volume in service.get("volumes", []):
            src = volume.split(":")[0] if isinstance(volume, str) else volume.get("source")
            if not (src.startswith("./") or src.startswith("/")):
                used.add(src)
    assert used and used <= declared, f"named volumes used but not declared: {used - declared}"
    mounts = {name: [v.split(":")[1] for v in s.get("volumes", []) if isinstance(v, str)] for name, s in services().items()}
    assert "/var/lib/mysql" in mounts["mysql"]
    assert "/data" in mounts["s3"]
    for name in ("code", "webserver", "daemon"):  # compute logs written by runs, read by the UI
        assert "/opt/dagster/dagster_home/storage" in mounts[name]


def test_compose_services_share_the_instance_config():
    svc = services()
    for name in ("code", "webserver", "daemon"):
        env = svc[name]["environment"]
        assert env["DAGSTER_HOME"] == "/opt/dagster/dagster_home"
        for var in ("DAGSTER_MYSQL_HOST", "DAGSTER_MYSQL_PORT", "DAGSTER_MYSQL_USER", "DAGSTER_MYSQL_PASSWORD",
                    "DAGSTER_MYSQL_DB"):
            assert var in env, f"{name} lacks {var}"
    code_env = svc["code"]["environment"]
    for var in ("VODREC_SOURCE_URL", "VODREC_S3_BUCKET", "VODREC_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID"):
        assert var in code_env
    # The webserver and the daemon run no user code: they do not get the pipeline's credentials.
    for name in ("webserver", "daemon"):
        assert "AWS_SECRET_ACCESS_KEY" not in svc[name]["environment"]
        assert "VODREC_SOURCE_URL" not in svc[name]["environment"]
    copies = copies_into_image(dockerfile_of(svc["code"]))
    assert copies["/opt/dagster/dagster_home/dagster.yaml"] == REPO / "deploy" / "dagster.yaml"


def _workspace(path: Path) -> dict:
    from dagster._core.workspace.config_schema import process_workspace_config

    config = yaml.safe_load(path.read_text())
    result = process_workspace_config(config)
    assert result.success, f"{path.name}: {result.errors}"
    return config


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_local_workspace_loads_a_module_that_imports():
    entries = _workspace(REPO / "workspace.yaml")["load_from"]
    modules = [e["python_module"] for e in entries if "python_module" in e]
    assert modules and modules[0]["module_name"] == "vodrec_assets.definitions"
    assert (REPO / modules[0].get("working_directory", ".")).is_dir()
    check_module(modules[0]["module_name"])


def test_compose_workspace_points_at_the_code_server():
    entries = _workspace(REPO / "workspace.compose.yaml")["load_from"]
    grpc = [e["grpc_server"] for e in entries if "grpc_server" in e]
    assert len(grpc) == 1
    code = services()[grpc[0]["host"]]
    argv = as_argv(code["command"])
    assert argv[:3] == ["dagster", "code-server", "start"]
    assert argv[argv.index("-p") + 1] == str(grpc[0]["port"])
    assert argv[argv.index("-h") + 1] == "0.0.0.0"
    assert argv[argv.index("--location-name") + 1] == grpc[0]["location_name"]
    for name in ("webserver", "daemon"):
        mounted = bind_mounts(services()[name]).get("/opt/dagster/app/workspace.yaml")
        assert mounted == (REPO / "workspace.compose.yaml").resolve()


def test_the_command_checker_rejects_what_does_not_exist():
    check_dagster_cli(["dagster", "api", "grpc-health-check", "-p", "4000"])  # hidden command, real options
    with pytest.raises(pytest.fail.Exception, match="No such option"):
        check_dagster_cli(["dagster", "code-server", "start", "--no-such-option"])
    with pytest.raises(AssertionError, match="no command"):
        check_dagster_cli(["dagster", "no-such-command"])
    with pytest.raises(pytest.fail.Exception, match="does not exist"):
        check_dagster_cli(["dagster-daemon", "run", "-w", str(REPO / "no-such-workspace.yaml")])
    with pytest.raises(pytest.fail.Exception, match="not a valid integer"):
        check_dagster_cli(["dagster", "code-server", "start", "-p", "four"])
