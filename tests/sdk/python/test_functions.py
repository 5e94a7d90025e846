"""The SDK scenario suite, Python half. tests/sdk/node/functions.test.mjs has the same scenarios
under the same names; keep them in step (tests/sdk/README.md)."""
import gzip
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest
from appwrite.exception import AppwriteException
from appwrite.id import ID
from appwrite.input_file import InputFile
from appwrite.query import Query

from appwrite.client import Client
from appwrite.services.functions import Functions

from conftest import (
    ENDPOINT,
    FIXTURE,
    RUNTIME,
    execution_function_id,
    expect_error,
    modern_format,
    new_client,
    pack,
    raw,
    schedule_time,
    value,
    wait_deployment,
    wait_execution,
)


def test_runtimes_and_specifications(functions):
    runtimes = functions.list_runtimes()
    assert runtimes.total == len(runtimes.runtimes) >= 1
    node = next(r for r in runtimes.runtimes if r.id == RUNTIME)
    assert (node.key, node.name, node.version) == ("node", "Node.js", "18.0")
    assert node.image and node.base and node.logo and isinstance(node.supports, list)
    specs = functions.list_specifications()
    assert specs.total == len(specs.specifications) >= 1
    for s in specs.specifications:
        assert s.slug and s.memory > 0 and s.cpus > 0 and isinstance(s.enabled, bool)


def test_function_crud(functions, make_function):
    fn = make_function(name="sdk-py-crud", events=["users.*.create"], timeout=20)
    assert fn.name == "sdk-py-crud" and fn.runtime == RUNTIME
    assert fn.deploymentid == "" and fn.latestdeploymentid == ""
    assert fn.events == ["users.*.create"] and fn.schedule == "" and fn.timeout == 20
    assert fn.enabled is True and fn.logging is True and fn.version == "v5"
    assert fn.createdat.endswith("+00:00") and "." in fn.createdat
    if modern_format():
        assert fn.description == "" and fn.emailenabled is False

    got = functions.get(fn.id)
    assert got.id == fn.id and got.name == fn.name

    updated = functions.update(fn.id, "sdk-py-crud-2", schedule="0 0 1 1 *", timeout=30)
    assert updated.name == "sdk-py-crud-2" and updated.schedule == "0 0 1 1 *"
    assert updated.timeout == 30
    assert updated.events == []  # PUT is a full replacement

    found = functions.list(search=fn.id)
    assert [f.id for f in found.functions] == [fn.id]

    functions.delete(fn.id)
    expect_error(lambda: functions.get(fn.id), 404, "function_not_found")


def test_function_errors(functions, make_function):
    expect_error(lambda: functions.get("does-not-exist"), 404, "function_not_found")
    expect_error(
        lambda: functions.create(ID.unique(), "x", "no-such-runtime-1.0"),
        400,
        "general_argument_invalid",
    )
    expect_error(
        lambda: functions.create("-bad-id", "x", RUNTIME), 400, "general_argument_invalid"
    )
    fn = make_function(name="sdk-py-dup")
    expect_error(lambda: functions.create(fn.id, "x", RUNTIME), 409, "function_already_exists")
    bad = raw("GET", "/functions", key="standard_wrong")
    assert bad.status_code == 401, bad.text
    assert {"message", "code", "type", "version"} <= set(bad.json())
    expect_error(
        lambda: functions.create_execution("does-not-exist"), 404, "function_not_found"
    )
    expect_error(lambda: functions.create_execution(fn.id), 404, "deployment_not_found")


def test_queries_and_pagination(functions, make_function):
    tag = "q" + uuid.uuid4().hex[:10]  # 'q' never occurs in hex ids, so search only hits these
    ids = [make_function(name=f"sdk-py-q-{tag}-{i}", enabled=(i != 1)).id for i in range(3)]
    page = functions.list(queries=[Query.equal("name", [f"sdk-py-q-{tag}-{i}" for i in range(3)])])
    assert page.total == 3 and sorted(f.id for f in page.functions) == sorted(ids)
    one = functions.list(search=tag, queries=[Query.limit(1)])
    assert one.total == 3 and len(one.functions) == 1
    rest = functions.list(search=tag, queries=[Query.limit(5), Query.offset(1)])
    assert len(rest.functions) == 2 and one.functions[0].id not in [f.id for f in rest.functions]
    after = functions.list(search=tag, queries=[Query.cursor_after(one.functions[0].id)])
    assert [f.id for f in after.functions] == [f.id for f in rest.functions]
    disabled = functions.list(search=tag, queries=[Query.equal("enabled", [False])])
    assert [f.id for f in disabled.functions] == [ids[1]]
    no_total = functions.list(search=tag, total=False)
    assert no_total.total == 0 and len(no_total.functions) == 3
    expect_error(
        lambda: functions.list(queries=[Query.cursor_after("unknown")]), 400, None
    )


def test_deploy_build_and_activate(functions, deployed):
    function_id, deployment_id = deployed
    fn = functions.get(function_id)
    assert fn.deploymentid == deployment_id and fn.latestdeploymentid == deployment_id
    assert fn.latestdeploymentstatus == "ready"
    dep = functions.get_deployment(function_id, deployment_id)
    assert value(dep.status) == "ready" and dep.type == "manual"
    assert dep.resourceid == function_id and dep.resourcetype == "functions"
    assert dep.sourcesize > 0 and dep.totalsize == dep.sourcesize + dep.buildsize
    assert dep.buildlogs != "" and dep.entrypoint == "index.js"
    listed = functions.list_deployments(function_id)
    assert listed.total >= 1 and deployment_id in [d.id for d in listed.deployments]
    expect_error(
        lambda: functions.get_deployment(function_id, "nope"), 404, "deployment_not_found"
    )


def test_sync_execution(functions, deployed):
    function_id, deployment_id = deployed
    e = functions.create_execution(
        function_id, body="hello", path="/echo?x=1", method="POST",
        headers={"content-type": "text/plain"},
    )
    assert value(e.status) == "completed", e.errors
    assert e.responsestatuscode == 200
    assert execution_function_id(e) == function_id and e.deploymentid == deployment_id
    assert value(e.trigger) == "http"
    body = json.loads(e.responsebody)
    assert body["path"] == "/echo" and body["method"] == "POST"
    ids = [h.value for h in e.responseheaders if h.name == "x-appwrite-execution-id"]
    assert ids == [e.id]
    assert "node-hello called" in e.logs


def test_async_execution_and_listing(functions, deployed):
    function_id, _ = deployed
    e = functions.create_execution(function_id, xasync=True, path="/async", method="GET")
    assert value(e.status) in ("waiting", "processing")
    done = wait_execution(functions, function_id, e.id)
    assert value(done.status) == "completed" and done.responsestatuscode == 200
    assert done.responsebody == ""  # stored executions keep no body
    listed = functions.list_executions(function_id, queries=[Query.limit(100)])
    assert e.id in [x.id for x in listed.executions] and listed.total >= 1
    one = functions.list_executions(function_id, queries=[Query.limit(1)])
    assert len(one.executions) == 1 and one.total == listed.total
    expect_error(
        lambda: functions.get_execution(function_id, "nope"), 404, "execution_not_found"
    )


def test_delete_execution(functions, deployed):
    function_id, _ = deployed
    e = functions.create_execution(function_id, path="/")
    assert value(e.status) == "completed"
    functions.delete_execution(function_id, e.id)
    expect_error(lambda: functions.get_execution(function_id, e.id), 404, "execution_not_found")
    slow = functions.create_execution(function_id, xasync=True, path="/slow?ms=3000")
    expect_error(
        lambda: functions.delete_execution(function_id, slow.id), 400, "execution_in_progress"
    )
    assert value(wait_execution(functions, function_id, slow.id).status) == "completed"
    functions.delete_execution(function_id, slow.id)


def test_scheduled_execution(functions, deployed):
    function_id, _ = deployed
    at = schedule_time()
    e = functions.create_execution(
        function_id, xasync=True, method="PATCH", path="/custom-path", body="b", scheduled_at=at
    )
    assert value(e.status) == "scheduled" and e.scheduledat is not None
    expect_error(
        lambda: functions.create_execution(function_id, xasync=False, scheduled_at=at),
        400,
        None,
    )
    functions.delete_execution(function_id, e.id)
    expect_error(lambda: functions.get_execution(function_id, e.id), 404, "execution_not_found")


def test_variables(functions, make_function):
    fn = make_function(name="sdk-py-vars")
    plain = functions.create_variable(fn.id, ID.unique(), "PLAIN", "visible", secret=False)
    assert (plain.key, plain.value, plain.secret) == ("PLAIN", "visible", False)
    assert plain.resourcetype == "function" and plain.resourceid == fn.id
    hidden = functions.create_variable(fn.id, ID.unique(), "HIDDEN", "s3cret")
    assert hidden.secret is True and hidden.value == ""
    if modern_format():
        assert plain.description == ""
    expect_error(
        lambda: functions.create_variable(fn.id, ID.unique(), "PLAIN", "x"),
        409,
        "variable_already_exists",
    )
    listed = functions.list_variables(fn.id)
    assert listed.total == 2
    assert {v.key: v.value for v in listed.variables} == {"PLAIN": "visible", "HIDDEN": ""}
    assert functions.get_variable(fn.id, plain.id).value == "visible"
    up = functions.update_variable(fn.id, plain.id, value="changed")
    assert up.key == "PLAIN" and up.value == "changed"
    assert sorted(v.key for v in functions.get(fn.id).vars) == ["HIDDEN", "PLAIN"]
    expect_error(
        lambda: functions.update_variable(fn.id, "nope", value="x"), 404, "variable_not_found"
    )
    functions.delete_variable(fn.id, plain.id)
    functions.delete_variable(fn.id, hidden.id)
    assert functions.list_variables(fn.id).total == 0


def test_download_with_and_without_range(functions, deployed, code_tarball):
    function_id, deployment_id = deployed
    data = functions.get_deployment_download(function_id, deployment_id)
    assert data == code_tarball.read_bytes()
    assert gzip.decompress(data)  # a real gzip stream
    path = f"/functions/{function_id}/deployments/{deployment_id}/download"
    part = raw("GET", path, headers={"range": "bytes=0-9"})
    assert part.status_code == 206, part.text
    assert part.content == data[:10]
    assert part.headers["content-range"] == f"bytes 0-9/{len(data)}"
    bad = raw("GET", path, headers={"range": f"bytes={len(data) + 10}-{len(data) + 20}"})
    assert bad.status_code == 416


def test_duplicate_deployment(functions, deployed):
    function_id, deployment_id = deployed
    dup = functions.create_duplicate_deployment(function_id, deployment_id)
    assert dup.id != deployment_id and dup.buildsize == 0
    assert dup.totalsize == dup.sourcesize
    assert value(wait_deployment(functions, function_id, dup.id).status) == "ready"
    # the duplicate is activated when built; put the original back for the other scenarios
    functions.update_function_deployment(function_id, deployment_id)
    assert functions.get(function_id).deploymentid == deployment_id


def test_cancel_deployment(functions, make_function, code_tarball):
    fn = make_function(name="sdk-py-cancel")
    dep = functions.create_deployment(fn.id, InputFile.from_path(str(code_tarball)), False)
    assert value(dep.status) == "waiting" and dep.activate is False
    canceled = functions.update_deployment_status(fn.id, dep.id)
    assert value(canceled.status) == "canceled"
    assert value(functions.get_deployment(fn.id, dep.id).status) == "canceled"
    assert functions.get(fn.id).deploymentid == ""


def test_delete_deployment(functions, make_function, code_tarball):
    fn = make_function(name="sdk-py-deldep")
    dep = functions.create_deployment(fn.id, InputFile.from_path(str(code_tarball)), False)
    wait_deployment(functions, fn.id, dep.id)
    functions.delete_deployment(fn.id, dep.id)
    expect_error(lambda: functions.get_deployment(fn.id, dep.id), 404, "deployment_not_found")


def test_chunked_upload_large(functions, make_function, workdir):
    fn = make_function(name="sdk-py-large")
    # incompressible, so the tarball is > 12 MiB and goes up in 5 MiB chunks
    big = pack(FIXTURE, workdir, "large.tar.gz", extra={"blob.bin": os.urandom(13 * 1024 * 1024)})
    size = big.stat().st_size
    assert size > 12 * 1024 * 1024
    dep = functions.create_deployment(fn.id, InputFile.from_path(str(big)), True)
    assert dep.sourcesize == size
    done = wait_deployment(functions, fn.id, dep.id)
    assert value(done.status) == "ready", done.buildlogs
    assert functions.get_deployment_download(fn.id, dep.id) == big.read_bytes()


def test_vcs_deployment_without_link(functions, make_function):
    fn = make_function(name="sdk-py-vcs")
    err = expect_error(
        lambda: functions.create_vcs_deployment(fn.id, "branch", "main"), 404, None
    )
    assert err.type


def test_response_format(deployed):
    function_id, _ = deployed
    newest = raw("GET", f"/functions/{function_id}").json()
    assert newest["description"] == "" and newest["emailEnabled"] is False
    v19 = raw("GET", f"/functions/{function_id}", headers={"x-appwrite-response-format": "1.9.5"})
    assert "description" not in v19.json() and v19.json()["deploymentId"]
    listed = raw("GET", f"/functions/{function_id}/executions").json()
    assert listed["total"] >= 1
    assert all("resourceId" in e and "functionId" not in e for e in listed["executions"])


def test_scopes(functions, deployed):
    function_id, _ = deployed
    readonly = Functions(new_client(os.environ["E2E_KEY_READONLY"]))
    assert function_id in [f.id for f in readonly.list(queries=[Query.limit(100)]).functions]
    assert readonly.get(function_id).id == function_id
    err = expect_error(
        lambda: readonly.create(ID.unique(), "x", RUNTIME), 401, "general_unauthorized_scope"
    )
    assert "functions.write" in err.message
    expect_error(lambda: readonly.delete(function_id), 401, "general_unauthorized_scope")
    expect_error(
        lambda: readonly.create_execution(function_id), 401, "general_unauthorized_scope"
    )
    expect_error(
        lambda: readonly.list_executions(function_id), 401, "general_unauthorized_scope"
    )
    assert functions.get(function_id).id == function_id  # untouched


def test_project_isolation(deployed):
    function_id, _ = deployed
    other_project = os.environ["E2E_PROJECT_OTHER"]
    other = Functions(
        Client()
        .set_endpoint(ENDPOINT)
        .set_project(other_project)
        .set_key(os.environ["E2E_KEY_OTHER"])
    )
    assert function_id not in [f.id for f in other.list(queries=[Query.limit(100)]).functions]
    expect_error(lambda: other.get(function_id), 404, "function_not_found")
    fn = other.create(ID.unique(), "sdk-py-other", RUNTIME)
    try:
        mine = raw("GET", f"/functions/{fn.id}")
        assert mine.status_code == 404, mine.text
        # the first project's key means nothing in the other project
        foreign = raw("GET", "/functions", headers={"x-appwrite-project": other_project})
        assert foreign.status_code == 401, foreign.text
    finally:
        other.delete(fn.id)
    unknown = raw("GET", "/functions", headers={"x-appwrite-project": "no-such-project"})
    assert unknown.status_code == 404 and unknown.json()["type"] == "project_not_found"


def test_specifications_and_retention(functions, make_function):
    slugs = [s.slug for s in functions.list_specifications().specifications]
    fn = make_function(
        name="sdk-py-spec",
        build_specification=slugs[-1],
        runtime_specification=slugs[0],
        deployment_retention=180,
    )
    assert fn.buildspecification == slugs[-1] and fn.runtimespecification == slugs[0]
    assert fn.deploymentretention == 180
    updated = functions.update(fn.id, "sdk-py-spec", deployment_retention=30)
    assert updated.deploymentretention == 30
    assert functions.update(fn.id, "sdk-py-spec").deploymentretention == 0  # PUT resets
    expect_error(
        lambda: functions.create(ID.unique(), "x", RUNTIME, build_specification="s-no-such"),
        400,
        None,
    )
    expect_error(
        lambda: functions.create(ID.unique(), "x", RUNTIME, deployment_retention=40000),
        400,
        None,
    )


def test_download_output(functions, deployed):
    function_id, deployment_id = deployed
    source = functions.get_deployment_download(function_id, deployment_id, type="source")
    output = functions.get_deployment_download(function_id, deployment_id, type="output")
    assert output != source and gzip.decompress(output)
    functions.create_execution(function_id, path="/")
    listed = functions.list_executions(function_id, total=False)
    assert listed.total == 0 and len(listed.executions) >= 1


def git_repo(workdir):
    """A local git repository holding node-hello under hello/, tagged v1 (file:// URL)."""
    repo = workdir / f"template-{uuid.uuid4().hex[:8]}"
    shutil.copytree(FIXTURE, repo / "hello", ignore=shutil.ignore_patterns("node_modules"))
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "template"], ["tag", "v1"]):
        subprocess.run(["git", *args], cwd=repo, env=env, check=True)
    return f"file://{repo}"


def test_template_deployment(functions, make_function, workdir):
    fn = make_function(name="sdk-py-template")
    url = git_repo(workdir)
    dep = functions.create_template_deployment(fn.id, url, "local", "hello", "tag", "v1", activate=True)
    assert dep.type == "vcs"
    done = wait_deployment(functions, fn.id, dep.id)
    assert value(done.status) == "ready", done.buildlogs
    deadline = time.time() + 30
    while functions.get(fn.id).deploymentid != dep.id:
        assert time.time() < deadline, "template deployment never became active"
        time.sleep(0.5)
    e = functions.create_execution(fn.id, path="/from-template")
    assert value(e.status) == "completed" and json.loads(e.responsebody)["path"] == "/from-template"
    expect_error(
        lambda: functions.create_template_deployment(fn.id, url, "local", "hello", "tag", "no-such-tag"),
        400,
        None,
    )


def test_head_execution_and_logging_off(functions, deployed, make_function, code_tarball):
    function_id, _ = deployed
    head = functions.create_execution(function_id, method="HEAD", path="/")
    assert value(head.status) == "completed" and head.responsebody == ""
    assert head.requestmethod == "HEAD"
    quiet = make_function(name="sdk-py-quiet", logging=False)
    dep = functions.create_deployment(quiet.id, InputFile.from_path(str(code_tarball)), True)
    assert value(wait_deployment(functions, quiet.id, dep.id).status) == "ready"
    deadline = time.time() + 30
    while functions.get(quiet.id).deploymentid != dep.id:
        assert time.time() < deadline, "deployment never became active"
        time.sleep(0.5)
    e = functions.create_execution(quiet.id, path="/")
    assert value(e.status) == "completed" and (e.logs, e.errors) == ("", "")
    a = functions.create_execution(quiet.id, xasync=True, path="/")
    done = wait_execution(functions, quiet.id, a.id)
    assert value(done.status) == "completed" and (done.logs, done.errors) == ("", "")
