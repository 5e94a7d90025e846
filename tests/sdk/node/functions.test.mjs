// The SDK scenario suite, node half. tests/sdk/python/test_functions.py has the same scenarios
// under the same names; keep them in step (tests/sdk/README.md).
//
// Env: E2E_ENDPOINT, E2E_PROJECT, E2E_KEY (scripts/stack.sh env e2e).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { AppwriteException, Client, Functions, ID, Query } from 'node-appwrite';
import { InputFile } from 'node-appwrite/file';

const ENDPOINT = process.env.E2E_ENDPOINT;
const PROJECT = process.env.E2E_PROJECT;
const KEY = process.env.E2E_KEY;
if (!ENDPOINT || !PROJECT || !KEY) throw new Error('E2E_ENDPOINT, E2E_PROJECT and E2E_KEY must be set');
const FIXTURE = resolve(dirname(fileURLToPath(import.meta.url)), '../../fixtures/node-hello');
const RUNTIME = 'node-18.0';
const BUILD_TIMEOUT_MS = 300_000;

const functions = new Functions(new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setKey(KEY));
const work = mkdtempSync(join(tmpdir(), 'fnplat-sdk-node-'));
const created = [];
let codeTarball;
let deployed; // { functionId, deploymentId }: node-hello, built and active

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function pack(name, extra = {}) {
  const dir = join(work, `${name}-src`);
  cpSync(FIXTURE, dir, { recursive: true, filter: (src) => !src.includes('node_modules') });
  for (const [file, data] of Object.entries(extra)) writeFileSync(join(dir, file), data);
  const out = join(work, name);
  execFileSync('tar', ['-czf', out, '-C', dir, '.']);
  return out;
}

async function raw(method, path, { key = KEY, headers = {} } = {}) {
  const res = await fetch(ENDPOINT + path, {
    method,
    headers: { 'x-appwrite-project': PROJECT, 'x-appwrite-key': key, ...headers },
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  let json;
  try {
    json = JSON.parse(bytes.toString());
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, bytes, json };
}

async function expectError(fn, code, type) {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof AppwriteException, `AppwriteException expected, got ${err}`);
    assert.equal(err.code, code, `code (message: ${err.message}, type: ${err.type})`);
    if (type) assert.equal(err.type, type, `type (message: ${err.message})`);
    return err;
  }
  assert.fail(`expected ${code} ${type ?? ''}, the call succeeded`);
}

async function makeFunction(params = {}) {
  const fn = await functions.create({
    functionId: ID.unique(),
    name: 'sdk-node',
    runtime: RUNTIME,
    execute: ['any'],
    entrypoint: 'index.js',
    commands: 'npm install',
    ...params,
  });
  created.push(fn.$id);
  return fn;
}

async function waitDeployment(functionId, deploymentId) {
  const deadline = Date.now() + BUILD_TIMEOUT_MS;
  for (;;) {
    const d = await functions.getDeployment({ functionId, deploymentId });
    if (['ready', 'failed', 'canceled'].includes(d.status)) return d;
    if (Date.now() > deadline) throw new Error(`deployment ${deploymentId} still ${d.status}`);
    await sleep(1000);
  }
}

async function waitExecution(functionId, executionId) {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const e = await functions.getExecution({ functionId, executionId });
    if (['completed', 'failed'].includes(e.status)) return e;
    if (Date.now() > deadline) throw new Error(`execution ${executionId} still ${e.status}`);
    await sleep(250);
  }
}

function scheduleTime(minutes = 2) {
  const at = new Date(Date.now() + minutes * 60_000);
  at.setUTCSeconds(0, 0);
  return at.toISOString().replace('Z', '+00:00');
}

before(async () => {
  codeTarball = pack('code.tar.gz');
  const fn = await makeFunction({ name: 'sdk-node-hello', timeout: 30 });
  let dep = await functions.createDeployment({
    functionId: fn.$id,
    code: InputFile.fromPath(codeTarball, 'code.tar.gz'),
    activate: true,
  });
  dep = await waitDeployment(fn.$id, dep.$id);
  assert.equal(dep.status, 'ready', dep.buildLogs);
  const deadline = Date.now() + 30_000;
  while ((await functions.get({ functionId: fn.$id })).deploymentId !== dep.$id) {
    if (Date.now() > deadline) throw new Error('deployment never became active');
    await sleep(500);
  }
  deployed = { functionId: fn.$id, deploymentId: dep.$id };
}, { timeout: BUILD_TIMEOUT_MS + 60_000 });

after(async () => {
  for (const functionId of created) {
    try {
      await functions.delete({ functionId });
    } catch {
      // already deleted by its scenario
    }
  }
  rmSync(work, { recursive: true, force: true });
});

test('test_runtimes_and_specifications', async () => {
  const runtimes = await functions.listRuntimes();
  assert.ok(runtimes.total >= 1 && runtimes.total === runtimes.runtimes.length);
  const node = runtimes.runtimes.find((r) => r.$id === RUNTIME);
  assert.deepEqual([node.key, node.name, node.version], ['node', 'Node.js', '18.0']);
  assert.ok(node.image && node.base && node.logo && Array.isArray(node.supports));
  const specs = await functions.listSpecifications();
  assert.ok(specs.total >= 1 && specs.total === specs.specifications.length);
  for (const s of specs.specifications) {
    assert.ok(s.slug && s.memory > 0 && s.cpus > 0 && typeof s.enabled === 'boolean');
  }
});

test('test_function_crud', async () => {
  const fn = await makeFunction({ name: 'sdk-node-crud', events: ['users.*.create'], timeout: 20 });
  assert.equal(fn.name, 'sdk-node-crud');
  assert.equal(fn.runtime, RUNTIME);
  assert.equal(fn.deploymentId, '');
  assert.equal(fn.latestDeploymentId, '');
  assert.deepEqual(fn.events, ['users.*.create']);
  assert.equal(fn.schedule, '');
  assert.equal(fn.timeout, 20);
  assert.equal(fn.enabled, true);
  assert.equal(fn.version, 'v5');
  assert.match(fn.$createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
  // node-appwrite 27 speaks format 1.9.5: no 2.x fields
  assert.equal(fn.description, undefined);

  assert.equal((await functions.get({ functionId: fn.$id })).name, 'sdk-node-crud');
  const updated = await functions.update({
    functionId: fn.$id, name: 'sdk-node-crud-2', schedule: '0 0 1 1 *', timeout: 30,
  });
  assert.equal(updated.name, 'sdk-node-crud-2');
  assert.equal(updated.schedule, '0 0 1 1 *');
  assert.equal(updated.timeout, 30);
  assert.deepEqual(updated.events, []); // PUT is a full replacement

  const found = await functions.list({ search: fn.$id });
  assert.deepEqual(found.functions.map((f) => f.$id), [fn.$id]);

  await functions.delete({ functionId: fn.$id });
  await expectError(() => functions.get({ functionId: fn.$id }), 404, 'function_not_found');
});

test('test_function_errors', async () => {
  await expectError(() => functions.get({ functionId: 'does-not-exist' }), 404, 'function_not_found');
  await expectError(
    () => functions.create({ functionId: ID.unique(), name: 'x', runtime: 'no-such-runtime-1.0' }),
    400, 'general_argument_invalid',
  );
  await expectError(
    () => functions.create({ functionId: '-bad-id', name: 'x', runtime: RUNTIME }),
    400, 'general_argument_invalid',
  );
  const fn = await makeFunction({ name: 'sdk-node-dup' });
  await expectError(
    () => functions.create({ functionId: fn.$id, name: 'x', runtime: RUNTIME }),
    409, 'function_already_exists',
  );
  const bad = await raw('GET', '/functions', { key: 'standard_wrong' });
  assert.equal(bad.status, 401);
  for (const k of ['message', 'code', 'type', 'version']) assert.ok(k in bad.json, k);
  await expectError(() => functions.createExecution({ functionId: 'does-not-exist' }), 404, 'function_not_found');
  await expectError(() => functions.createExecution({ functionId: fn.$id }), 404, 'deployment_not_found');
});

test('test_queries_and_pagination', async () => {
  const tag = `q${randomUUID().replaceAll('-', '').slice(0, 10)}`; // 'q' never occurs in hex ids
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await makeFunction({ name: `sdk-node-q-${tag}-${i}`, enabled: i !== 1 })).$id);
  const page = await functions.list({ queries: [Query.equal('name', [0, 1, 2].map((i) => `sdk-node-q-${tag}-${i}`))] });
  assert.equal(page.total, 3);
  assert.deepEqual(page.functions.map((f) => f.$id).sort(), [...ids].sort());
  const one = await functions.list({ search: tag, queries: [Query.limit(1)] });
  assert.equal(one.total, 3);
  assert.equal(one.functions.length, 1);
  const rest = await functions.list({ search: tag, queries: [Query.limit(5), Query.offset(1)] });
  assert.equal(rest.functions.length, 2);
  assert.ok(!rest.functions.some((f) => f.$id === one.functions[0].$id));
  const after = await functions.list({ search: tag, queries: [Query.cursorAfter(one.functions[0].$id)] });
  assert.deepEqual(after.functions.map((f) => f.$id), rest.functions.map((f) => f.$id));
  const disabled = await functions.list({ search: tag, queries: [Query.equal('enabled', [false])] });
  assert.deepEqual(disabled.functions.map((f) => f.$id), [ids[1]]);
  const noTotal = await functions.list({ search: tag, total: false });
  assert.equal(noTotal.total, 0);
  assert.equal(noTotal.functions.length, 3);
  await expectError(() => functions.list({ queries: [Query.cursorAfter('unknown')] }), 400);
});

test('test_deploy_build_and_activate', async () => {
  const { functionId, deploymentId } = deployed;
  const fn = await functions.get({ functionId });
  assert.equal(fn.deploymentId, deploymentId);
  assert.equal(fn.latestDeploymentId, deploymentId);
  assert.equal(fn.latestDeploymentStatus, 'ready');
  const dep = await functions.getDeployment({ functionId, deploymentId });
  assert.equal(dep.status, 'ready');
  assert.equal(dep.type, 'manual');
  assert.equal(dep.resourceId, functionId);
  assert.equal(dep.resourceType, 'functions');
  assert.ok(dep.sourceSize > 0);
  assert.equal(dep.totalSize, dep.sourceSize + dep.buildSize);
  assert.ok(dep.buildLogs.length > 0);
  assert.equal(dep.entrypoint, 'index.js');
  const listed = await functions.listDeployments({ functionId });
  assert.ok(listed.total >= 1 && listed.deployments.some((d) => d.$id === deploymentId));
  await expectError(() => functions.getDeployment({ functionId, deploymentId: 'nope' }), 404, 'deployment_not_found');
});

test('test_sync_execution', async () => {
  const { functionId, deploymentId } = deployed;
  const e = await functions.createExecution({
    functionId, body: 'hello', xpath: '/echo?x=1', method: 'POST', headers: { 'content-type': 'text/plain' },
  });
  assert.equal(e.status, 'completed', e.errors);
  assert.equal(e.responseStatusCode, 200);
  assert.equal(e.functionId, functionId);
  assert.equal(e.deploymentId, deploymentId);
  assert.equal(e.trigger, 'http');
  const body = JSON.parse(e.responseBody);
  assert.equal(body.path, '/echo');
  assert.equal(body.method, 'POST');
  assert.deepEqual(e.responseHeaders.filter((h) => h.name === 'x-appwrite-execution-id').map((h) => h.value), [e.$id]);
  assert.match(e.logs, /node-hello called/);
});

test('test_async_execution_and_listing', async () => {
  const { functionId } = deployed;
  const e = await functions.createExecution({ functionId, async: true, xpath: '/async', method: 'GET' });
  assert.ok(['waiting', 'processing'].includes(e.status), e.status);
  const done = await waitExecution(functionId, e.$id);
  assert.equal(done.status, 'completed');
  assert.equal(done.responseStatusCode, 200);
  assert.equal(done.responseBody, '');
  const listed = await functions.listExecutions({ functionId, queries: [Query.limit(100)] });
  assert.ok(listed.total >= 1 && listed.executions.some((x) => x.$id === e.$id));
  const one = await functions.listExecutions({ functionId, queries: [Query.limit(1)] });
  assert.equal(one.executions.length, 1);
  assert.equal(one.total, listed.total);
  await expectError(() => functions.getExecution({ functionId, executionId: 'nope' }), 404, 'execution_not_found');
});

test('test_delete_execution', async () => {
  const { functionId } = deployed;
  const e = await functions.createExecution({ functionId, xpath: '/' });
  assert.equal(e.status, 'completed');
  await functions.deleteExecution({ functionId, executionId: e.$id });
  await expectError(() => functions.getExecution({ functionId, executionId: e.$id }), 404, 'execution_not_found');
  const slow = await functions.createExecution({ functionId, async: true, xpath: '/slow?ms=3000' });
  await expectError(() => functions.deleteExecution({ functionId, executionId: slow.$id }), 400, 'execution_in_progress');
  assert.equal((await waitExecution(functionId, slow.$id)).status, 'completed');
  await functions.deleteExecution({ functionId, executionId: slow.$id });
});

test('test_scheduled_execution', async () => {
  const { functionId } = deployed;
  const scheduledAt = scheduleTime();
  const e = await functions.createExecution({
    functionId, async: true, method: 'PATCH', xpath: '/custom-path', body: 'b', scheduledAt,
  });
  assert.equal(e.status, 'scheduled');
  assert.ok(e.scheduledAt);
  await expectError(() => functions.createExecution({ functionId, async: false, scheduledAt }), 400);
  await functions.deleteExecution({ functionId, executionId: e.$id });
  await expectError(() => functions.getExecution({ functionId, executionId: e.$id }), 404, 'execution_not_found');
});

test('test_variables', async () => {
  const fn = await makeFunction({ name: 'sdk-node-vars' });
  const functionId = fn.$id;
  const plain = await functions.createVariable({ functionId, variableId: ID.unique(), key: 'PLAIN', value: 'visible', secret: false });
  assert.deepEqual([plain.key, plain.value, plain.secret], ['PLAIN', 'visible', false]);
  assert.equal(plain.resourceType, 'function');
  assert.equal(plain.resourceId, functionId);
  const hidden = await functions.createVariable({ functionId, variableId: ID.unique(), key: 'HIDDEN', value: 's3cret' });
  assert.equal(hidden.secret, true);
  assert.equal(hidden.value, '');
  await expectError(
    () => functions.createVariable({ functionId, variableId: ID.unique(), key: 'PLAIN', value: 'x' }),
    409, 'variable_already_exists',
  );
  const listed = await functions.listVariables({ functionId });
  assert.equal(listed.total, 2);
  assert.deepEqual(Object.fromEntries(listed.variables.map((v) => [v.key, v.value])), { PLAIN: 'visible', HIDDEN: '' });
  assert.equal((await functions.getVariable({ functionId, variableId: plain.$id })).value, 'visible');
  const up = await functions.updateVariable({ functionId, variableId: plain.$id, value: 'changed' });
  assert.equal(up.key, 'PLAIN');
  assert.equal(up.value, 'changed');
  assert.deepEqual((await functions.get({ functionId })).vars.map((v) => v.key).sort(), ['HIDDEN', 'PLAIN']);
  await expectError(() => functions.updateVariable({ functionId, variableId: 'nope', value: 'x' }), 404, 'variable_not_found');
  await functions.deleteVariable({ functionId, variableId: plain.$id });
  await functions.deleteVariable({ functionId, variableId: hidden.$id });
  assert.equal((await functions.listVariables({ functionId })).total, 0);
});

test('test_download_with_and_without_range', async () => {
  const { functionId, deploymentId } = deployed;
  const data = Buffer.from(await functions.getDeploymentDownload({ functionId, deploymentId }));
  assert.ok(data.equals(readFileSync(codeTarball)));
  assert.ok(gunzipSync(data).length > 0);
  const path = `/functions/${functionId}/deployments/${deploymentId}/download`;
  const part = await raw('GET', path, { headers: { range: 'bytes=0-9' } });
  assert.equal(part.status, 206);
  assert.ok(part.bytes.equals(data.subarray(0, 10)));
  assert.equal(part.headers.get('content-range'), `bytes 0-9/${data.length}`);
  const bad = await raw('GET', path, { headers: { range: `bytes=${data.length + 10}-${data.length + 20}` } });
  assert.equal(bad.status, 416);
});

test('test_duplicate_deployment', { timeout: BUILD_TIMEOUT_MS + 30_000 }, async () => {
  const { functionId, deploymentId } = deployed;
  const dup = await functions.createDuplicateDeployment({ functionId, deploymentId });
  assert.notEqual(dup.$id, deploymentId);
  assert.equal(dup.buildSize, 0);
  assert.equal(dup.totalSize, dup.sourceSize);
  assert.equal((await waitDeployment(functionId, dup.$id)).status, 'ready');
  // the duplicate is activated when built; put the original back for the other scenarios
  await functions.updateFunctionDeployment({ functionId, deploymentId });
  assert.equal((await functions.get({ functionId })).deploymentId, deploymentId);
});

test('test_cancel_deployment', async () => {
  const fn = await makeFunction({ name: 'sdk-node-cancel' });
  const dep = await functions.createDeployment({
    functionId: fn.$id, code: InputFile.fromPath(codeTarball, 'code.tar.gz'), activate: false,
  });
  assert.equal(dep.status, 'waiting');
  assert.equal(dep.activate, false);
  const canceled = await functions.updateDeploymentStatus({ functionId: fn.$id, deploymentId: dep.$id });
  assert.equal(canceled.status, 'canceled');
  assert.equal((await functions.getDeployment({ functionId: fn.$id, deploymentId: dep.$id })).status, 'canceled');
  assert.equal((await functions.get({ functionId: fn.$id })).deploymentId, '');
});

test('test_delete_deployment', { timeout: BUILD_TIMEOUT_MS + 30_000 }, async () => {
  const fn = await makeFunction({ name: 'sdk-node-deldep' });
  const dep = await functions.createDeployment({
    functionId: fn.$id, code: InputFile.fromPath(codeTarball, 'code.tar.gz'), activate: false,
  });
  await waitDeployment(fn.$id, dep.$id);
  await functions.deleteDeployment({ functionId: fn.$id, deploymentId: dep.$id });
  await expectError(() => functions.getDeployment({ functionId: fn.$id, deploymentId: dep.$id }), 404, 'deployment_not_found');
});

test('test_chunked_upload_large', { timeout: BUILD_TIMEOUT_MS + 60_000 }, async () => {
  const fn = await makeFunction({ name: 'sdk-node-large' });
  // incompressible, so the tarball is > 12 MiB and goes up in 5 MiB chunks
  const big = pack('large.tar.gz', { 'blob.bin': randomBytes(13 * 1024 * 1024) });
  const size = statSync(big).size;
  assert.ok(size > 12 * 1024 * 1024);
  const dep = await functions.createDeployment({
    functionId: fn.$id, code: InputFile.fromPath(big, 'large.tar.gz'), activate: true,
  });
  assert.equal(dep.sourceSize, size);
  const done = await waitDeployment(fn.$id, dep.$id);
  assert.equal(done.status, 'ready', done.buildLogs);
  const data = Buffer.from(await functions.getDeploymentDownload({ functionId: fn.$id, deploymentId: dep.$id }));
  assert.ok(data.equals(readFileSync(big)));
});

test('test_vcs_deployment_without_link', async () => {
  const fn = await makeFunction({ name: 'sdk-node-vcs' });
  const err = await expectError(
    () => functions.createVcsDeployment({ functionId: fn.$id, type: 'branch', reference: 'main' }), 404,
  );
  assert.ok(err.type);
});

test('test_response_format', async () => {
  const { functionId } = deployed;
  const newest = (await raw('GET', `/functions/${functionId}`)).json;
  assert.equal(newest.description, '');
  assert.equal(newest.emailEnabled, false);
  const v19 = (await raw('GET', `/functions/${functionId}`, { headers: { 'x-appwrite-response-format': '1.9.5' } })).json;
  assert.ok(!('description' in v19));
  assert.ok(v19.deploymentId);
  const listed = (await raw('GET', `/functions/${functionId}/executions`)).json;
  assert.ok(listed.total >= 1);
  assert.ok(listed.executions.every((e) => 'resourceId' in e && !('functionId' in e)));
});

test('test_scopes', async () => {
  const { functionId } = deployed;
  const readonly = new Functions(new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setKey(process.env.E2E_KEY_READONLY));
  assert.ok((await readonly.list({ queries: [Query.limit(100)] })).functions.some((f) => f.$id === functionId));
  assert.equal((await readonly.get({ functionId })).$id, functionId);
  const err = await expectError(
    () => readonly.create({ functionId: ID.unique(), name: 'x', runtime: RUNTIME }), 401, 'general_unauthorized_scope',
  );
  assert.match(err.message, /functions\.write/);
  await expectError(() => readonly.delete({ functionId }), 401, 'general_unauthorized_scope');
  await expectError(() => readonly.createExecution({ functionId }), 401, 'general_unauthorized_scope');
  await expectError(() => readonly.listExecutions({ functionId }), 401, 'general_unauthorized_scope');
  assert.equal((await functions.get({ functionId })).$id, functionId); // untouched
});

test('test_project_isolation', async () => {
  const { functionId } = deployed;
  const otherProject = process.env.E2E_PROJECT_OTHER;
  const other = new Functions(new Client().setEndpoint(ENDPOINT).setProject(otherProject).setKey(process.env.E2E_KEY_OTHER));
  assert.ok(!(await other.list({ queries: [Query.limit(100)] })).functions.some((f) => f.$id === functionId));
  await expectError(() => other.get({ functionId }), 404, 'function_not_found');
  const fn = await other.create({ functionId: ID.unique(), name: 'sdk-node-other', runtime: RUNTIME });
  try {
    assert.equal((await raw('GET', `/functions/${fn.$id}`)).status, 404);
    // the first project's key means nothing in the other project
    assert.equal((await raw('GET', '/functions', { headers: { 'x-appwrite-project': otherProject } })).status, 401);
  } finally {
    await other.delete({ functionId: fn.$id });
  }
  const unknown = await raw('GET', '/functions', { headers: { 'x-appwrite-project': 'no-such-project' } });
  assert.equal(unknown.status, 404);
  assert.equal(unknown.json.type, 'project_not_found');
});

test('test_specifications_and_retention', async () => {
  const slugs = (await functions.listSpecifications()).specifications.map((s) => s.slug);
  const fn = await makeFunction({
    name: 'sdk-node-spec', buildSpecification: slugs.at(-1), runtimeSpecification: slugs[0], deploymentRetention: 180,
  });
  assert.equal(fn.buildSpecification, slugs.at(-1));
  assert.equal(fn.runtimeSpecification, slugs[0]);
  assert.equal(fn.deploymentRetention, 180);
  const updated = await functions.update({ functionId: fn.$id, name: 'sdk-node-spec', deploymentRetention: 30 });
  assert.equal(updated.deploymentRetention, 30);
  assert.equal((await functions.update({ functionId: fn.$id, name: 'sdk-node-spec' })).deploymentRetention, 0); // PUT resets
  await expectError(() => functions.create({ functionId: ID.unique(), name: 'x', runtime: RUNTIME, buildSpecification: 's-no-such' }), 400);
  await expectError(() => functions.create({ functionId: ID.unique(), name: 'x', runtime: RUNTIME, deploymentRetention: 40000 }), 400);
});

test('test_download_output', async () => {
  const { functionId, deploymentId } = deployed;
  const source = Buffer.from(await functions.getDeploymentDownload({ functionId, deploymentId, type: 'source' }));
  const output = Buffer.from(await functions.getDeploymentDownload({ functionId, deploymentId, type: 'output' }));
  assert.ok(!output.equals(source));
  assert.ok(gunzipSync(output).length > 0);
  await functions.createExecution({ functionId, xpath: '/' });
  const listed = await functions.listExecutions({ functionId, total: false });
  assert.equal(listed.total, 0);
  assert.ok(listed.executions.length >= 1);
});

function gitRepo() {
  const repo = join(work, `template-${randomUUID().slice(0, 8)}`);
  cpSync(FIXTURE, join(repo, 'hello'), { recursive: true, filter: (src) => !src.includes('node_modules') });
  const env = {
    ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@example.com',
  };
  for (const args of [['init', '-q'], ['add', '.'], ['commit', '-q', '-m', 'template'], ['tag', 'v1']]) {
    execFileSync('git', args, { cwd: repo, env });
  }
  return `file://${repo}`;
}

test('test_template_deployment', { timeout: BUILD_TIMEOUT_MS + 60_000 }, async () => {
  const fn = await makeFunction({ name: 'sdk-node-template' });
  const repository = gitRepo();
  const dep = await functions.createTemplateDeployment({
    functionId: fn.$id, repository, owner: 'local', rootDirectory: 'hello', type: 'tag', reference: 'v1', activate: true,
  });
  assert.equal(dep.type, 'vcs');
  const done = await waitDeployment(fn.$id, dep.$id);
  assert.equal(done.status, 'ready', done.buildLogs);
  const deadline = Date.now() + 30_000;
  while ((await functions.get({ functionId: fn.$id })).deploymentId !== dep.$id) {
    if (Date.now() > deadline) throw new Error('template deployment never became active');
    await sleep(500);
  }
  const e = await functions.createExecution({ functionId: fn.$id, xpath: '/from-template' });
  assert.equal(e.status, 'completed');
  assert.equal(JSON.parse(e.responseBody).path, '/from-template');
  await expectError(() => functions.createTemplateDeployment({
    functionId: fn.$id, repository, owner: 'local', rootDirectory: 'hello', type: 'tag', reference: 'no-such-tag',
  }), 400);
});

test('test_head_execution_and_logging_off', { timeout: BUILD_TIMEOUT_MS + 60_000 }, async () => {
  const { functionId } = deployed;
  const head = await functions.createExecution({ functionId, method: 'HEAD', xpath: '/' });
  assert.equal(head.status, 'completed');
  assert.equal(head.responseBody, '');
  assert.equal(head.requestMethod, 'HEAD');
  const quiet = await makeFunction({ name: 'sdk-node-quiet', logging: false });
  const dep = await functions.createDeployment({
    functionId: quiet.$id, code: InputFile.fromPath(codeTarball, 'code.tar.gz'), activate: true,
  });
  assert.equal((await waitDeployment(quiet.$id, dep.$id)).status, 'ready');
  const deadline = Date.now() + 30_000;
  while ((await functions.get({ functionId: quiet.$id })).deploymentId !== dep.$id) {
    if (Date.now() > deadline) throw new Error('deployment never became active');
    await sleep(500);
  }
  const e = await functions.createExecution({ functionId: quiet.$id, xpath: '/' });
  assert.equal(e.status, 'completed');
  assert.deepEqual([e.logs, e.errors], ['', '']);
  const a = await functions.createExecution({ functionId: quiet.$id, async: true, xpath: '/' });
  const done = await waitExecution(quiet.$id, a.$id);
  assert.equal(done.status, 'completed');
  assert.deepEqual([done.logs, done.errors], ['', '']);
});
