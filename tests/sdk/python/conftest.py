"""Shared set-up for the Python half of the SDK scenario suite (tests/sdk/README.md).

Env: E2E_ENDPOINT, E2E_PROJECT, E2E_KEY (scripts/stack.sh env e2e). A missing stack fails loudly.
"""
import os
import subprocess
import tarfile
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.id import ID
from appwrite.input_file import InputFile
from appwrite.services.functions import Functions

ENDPOINT = os.environ["E2E_ENDPOINT"]
PROJECT = os.environ["E2E_PROJECT"]
KEY = os.environ["E2E_KEY"]
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "node-hello"
RUNTIME = "node-18.0"
BUILD_TIMEOUT = 300


def new_client(key=KEY):
    return Client().set_endpoint(ENDPOINT).set_project(PROJECT).set_key(key)


def sdk_format(client=None):
    """The X-Appwrite-Response-Format this SDK release sends."""
    headers = (client or new_client())._global_headers
    return next(v for k, v in headers.items() if k.lower() == "x-appwrite-response-format")


def modern_format():
    """True for SDKs speaking format 2.x (Execution.resourceId, Function.description...)."""
    return not sdk_format().startswith("1.")


def execution_function_id(execution):
    """`functionId` (format 1.9) or `resourceId` (format 2.x)."""
    if hasattr(execution, "functionid"):
        return execution.functionid
    assert execution.resourcetype == "functions" or str(execution.resourcetype) in (
        "functions",
        "ExecutionResourceType.FUNCTIONS",
    )
    return execution.resourceid


def value(enum_or_str):
    return getattr(enum_or_str, "value", enum_or_str)


def raw(method, path, *, key=KEY, headers=None, **kwargs):
    """A plain HTTP call, for what the SDK cannot send (Range header, no format header)."""
    h = {"x-appwrite-project": PROJECT, "x-appwrite-key": key}
    h.update(headers or {})
    return requests.request(method, ENDPOINT + path, headers=h, timeout=120, **kwargs)


def expect_error(fn, code, type_=None):
    with pytest.raises(AppwriteException) as info:
        fn()
    err = info.value
    assert err.code == code, f"{err.code} {err.type} {err.message}"
    if type_ is not None:
        assert err.type == type_, f"{err.type}: {err.message}"
    return err


def pack(directory, out_dir, name="code.tar.gz", extra=None):
    """A .tar.gz of `directory` (without node_modules); `extra` = {name: bytes} added files."""
    out = Path(out_dir) / name
    with tarfile.open(out, "w:gz") as tar:
        for p in sorted(Path(directory).rglob("*")):
            rel = p.relative_to(directory)
            if "node_modules" in rel.parts:
                continue
            tar.add(p, arcname=str(rel), recursive=False)
        for fname, data in (extra or {}).items():
            src = Path(out_dir) / fname
            src.write_bytes(data)
            tar.add(src, arcname=fname)
    return out


def wait_deployment(functions, function_id, deployment_id, timeout=BUILD_TIMEOUT):
    deadline = time.time() + timeout
    while True:
        d = functions.get_deployment(function_id, deployment_id)
        if value(d.status) in ("ready", "failed", "canceled"):
            return d
        if time.time() > deadline:
            raise AssertionError(f"deployment {deployment_id} still {d.status}")
        time.sleep(1)


def wait_execution(functions, function_id, execution_id, timeout=120):
    deadline = time.time() + timeout
    while True:
        e = functions.get_execution(function_id, execution_id)
        if value(e.status) in ("completed", "failed"):
            return e
        if time.time() > deadline:
            raise AssertionError(f"execution {execution_id} still {e.status}")
        time.sleep(0.25)


def schedule_time(minutes=2):
    at = (datetime.now(timezone.utc) + timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    return at.strftime("%Y-%m-%dT%H:%M:%S.000+00:00")


@pytest.fixture(scope="session")
def functions():
    return Functions(new_client())


@pytest.fixture(scope="session")
def workdir():
    with tempfile.TemporaryDirectory(prefix="fnplat-sdk-py-") as d:
        yield Path(d)


@pytest.fixture(scope="session")
def created(functions):
    """Function ids to delete at the end of the session."""
    ids = []
    yield ids
    for fid in ids:
        try:
            functions.delete(fid)
        except AppwriteException:
            pass


@pytest.fixture(scope="session")
def code_tarball(workdir):
    return pack(FIXTURE, workdir)


@pytest.fixture(scope="session")
def make_function(functions, created):
    def make(**params):
        fid = ID.unique()
        fn = functions.create(
            fid,
            params.pop("name", "sdk-py"),
            RUNTIME,
            execute=params.pop("execute", ["any"]),
            entrypoint=params.pop("entrypoint", "index.js"),
            commands=params.pop("commands", "npm install"),
            **params,
        )
        created.append(fn.id)
        return fn

    return make


@pytest.fixture(scope="session")
def deployed(functions, make_function, code_tarball):
    """One node-hello function, built and active (shared by the execution scenarios)."""
    fn = make_function(name="sdk-py-hello", timeout=30)
    dep = functions.create_deployment(fn.id, InputFile.from_path(str(code_tarball)), True)
    dep = wait_deployment(functions, fn.id, dep.id)
    assert value(dep.status) == "ready", dep.buildlogs
    deadline = time.time() + 30
    while functions.get(fn.id).deploymentid != dep.id:
        assert time.time() < deadline, "deployment never became active"
        time.sleep(0.5)
    return fn.id, dep.id
