// End-to-end: the official node-appwrite SDK drives a running fnplat stack.
//
// Env (set by scripts/test.sh from `scripts/stack.sh env e2e`):
//   E2E_ENDPOINT  e.g. http://127.0.0.1:18080/v1
//   E2E_PROJECT   project id the gateway serves
//   E2E_KEY       API key of that project
//
// The function under test is tests/fixtures/node-hello (CommonJS, one npm dependency, echoes the
// request as JSON, logs with context.log/context.error, throws on /throw, sleeps on /slow).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AppwriteException,
  Client,
  ExecutionMethod,
  Functions,
  ID,
} from 'node-appwrite';
import { InputFile } from 'node-appwrite/file';

const ENDPOINT = process.env.E2E_ENDPOINT ?? 'http://127.0.0.1:18080/v1';
const PROJECT = process.env.E2E_PROJECT ?? 'e2e';
const KEY = process.env.E2E_KEY ?? '';
const FIXTURE = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/node-hello');
const BUILD_TIMEOUT_MS = 5 * 60_000;
const WARM_CALLS = Number(process.env.E2E_WARM_CALLS ?? 100);

const client = new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setKey(KEY);
const functions = new Functions(client);
const work = mkdtempSync(join(tmpdir(), 'fnplat-e2e-'));
const created = [];

// ---------------------------------------------------------------------------------------------
// helpers

/** Packs a directory into a .tar.gz with the tar CLI (what a user or the CLI would upload). */
function pack(dir, name) {
  const out = join(work, name);
  execFileSync('tar', ['--exclude=./node_modules', '-czf', out, '-C', dir, '.']);
  return out;
}

/** A raw HTTP call, for the cases the SDK would not send (bad key, malformed JSON). */
async function raw(method, path, { body, key = KEY, headers = {} } = {}) {
  const res = await fetch(ENDPOINT + path, {
    method,
    headers: {
      'x-appwrite-project': PROJECT,
      'x-appwrite-key': key,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body,
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Asserts the Appwrite error body: {message, code, type, version}. */
function assertErrorBody(res, code, type) {
  assert.equal(res.status, code, `HTTP status (body: ${res.text})`);
  assert.ok(res.json, `error body is JSON: ${res.text}`);
  assert.equal(typeof res.json.message, 'string');
  assert.ok(res.json.message.length > 0, 'message not empty');
  assert.equal(res.json.code, code);
  if (type) assert.equal(res.json.type, type);
  else assert.ok(typeof res.json.type === 'string' && res.json.type.length > 0, 'type present');
  assert.equal(typeof res.json.version, 'string');
}

/** Runs `fn` and asserts it rejects with an AppwriteException of that code and type. */
async function rejectsWith(fn, code, type) {
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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitDeployment(functionId, deploymentId) {
  const deadline = Date.now() + BUILD_TIMEOUT_MS;
  let dep;
  while (Date.now() < deadline) {
    dep = await functions.getDeployment({ functionId, deploymentId });
    if (['ready', 'failed', 'canceled'].includes(dep.status)) return dep;
    await sleep(1000);
  }
  throw new Error(`deployment ${deploymentId} still ${dep?.status} after ${BUILD_TIMEOUT_MS} ms`);
}

async function waitExecution(functionId, executionId, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  let ex;
  while (Date.now() < deadline) {
    ex = await functions.getExecution({ functionId, executionId });
    if (['completed', 'failed'].includes(ex.status)) return ex;
    await sleep(250);
  }
  throw new Error(`execution ${executionId} still ${ex?.status} after ${timeoutMs} ms`);
}

async function createFunction(params) {
  const fn = await functions.create({
    functionId: ID.unique(),
    runtime: 'node-18.0',
    entrypoint: 'index.js',
    commands: 'npm install',
    ...params,
  });
  created.push(fn.$id);
  return fn;
}

/** Uploads `tarball` as a deployment of `fn` and waits for the build; returns {fn, deployment}. */
async function build(fn, tarball) {
  const deployment = await functions.createDeployment({
    functionId: fn.$id,
    code: InputFile.fromPath(tarball, 'code.tar.gz'),
    activate: false,
  });
  assert.ok(['waiting', 'processing', 'building'].includes(deployment.status), deployment.status);
  const done = await waitDeployment(fn.$id, deployment.$id);
  return { fn, deployment: done };
}

function header(list, name) {
  return list.find((h) => h.name.toLowerCase() === name)?.value;
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// ---------------------------------------------------------------------------------------------
// set-up: the three builds run concurrently while the bad-input tests run.

let hello; // Promise<{fn, deployment}> node-hello, timeout 15 s
let slow; // Promise<{fn, deployment}> node-hello, timeout 3 s
let broken; // Promise<{fn, deployment}> build command `exit 3`

before(async () => {
  assert.ok(KEY, 'E2E_KEY is set');
  assert.ok(existsSync(join(FIXTURE, 'package.json')), `fixture ${FIXTURE} exists`);
  const tarball = pack(FIXTURE, 'node-hello.tar.gz');
  const brokenDir = join(work, 'broken');
  execFileSync('mkdir', ['-p', brokenDir]);
  writeFileSync(join(brokenDir, 'index.js'), 'module.exports = async (context) => context.res.text("never");\n');
  const brokenTarball = pack(brokenDir, 'broken.tar.gz');

  // Functions are created before any test runs (the bad-input tests compare function counts);
  // the uploads and builds go on in the background.
  const [helloFn, slowFn, brokenFn] = await Promise.all([
    createFunction({ name: 'e2e hello' }),
    createFunction({ name: 'e2e slow', timeout: 3 }),
    createFunction({ name: 'e2e broken build', commands: 'echo building; exit 3' }),
  ]);
  hello = build(helloFn, tarball);
  slow = build(slowFn, tarball);
  broken = build(brokenFn, brokenTarball);
  // Keep unhandled-rejection noise away; each test awaits the one it needs.
  for (const p of [hello, slow, broken]) p.catch(() => {});
});

after(async () => {
  for (const functionId of created) {
    await functions.delete({ functionId }).catch(() => {});
  }
  rmSync(work, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// bad input: the right error, and nothing half-made

describe('bad input', () => {
  test('wrong API key => 401 with the Appwrite error body', async () => {
    const res = await raw('GET', '/functions', { key: 'standard_not-the-key' });
    assertErrorBody(res, 401);
    const wrong = new Functions(new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setKey('nope'));
    await rejectsWith(() => wrong.list(), 401);
  });

  test('unknown function => 404 function_not_found', async () => {
    await rejectsWith(() => functions.get({ functionId: 'does-not-exist' }), 404, 'function_not_found');
    const res = await raw('GET', '/functions/does-not-exist');
    assertErrorBody(res, 404, 'function_not_found');
  });

  test('unknown runtime => 400 general_argument_invalid, no function created', async () => {
    const before = await functions.list();
    const functionId = ID.unique();
    await rejectsWith(
      () => functions.create({ functionId, name: 'bad runtime', runtime: 'cobol-1.0' }),
      400,
      'general_argument_invalid',
    );
    await rejectsWith(() => functions.get({ functionId }), 404, 'function_not_found');
    const afterList = await functions.list();
    assert.equal(afterList.total, before.total);
  });

  test('malformed JSON body => 400 general_argument_invalid, no function created', async () => {
    const before = await functions.list();
    const res = await raw('POST', '/functions', { body: '{"functionId": "half-made", "name": ' });
    assertErrorBody(res, 400, 'general_argument_invalid');
    await rejectsWith(() => functions.get({ functionId: 'half-made' }), 404, 'function_not_found');
    const afterList = await functions.list();
    assert.equal(afterList.total, before.total);
  });

  test('an upload that is not gzip => 400 storage_file_type_unsupported, no deployment', async () => {
    const fn = await createFunction({ name: 'e2e bad upload' });
    const before = await functions.listDeployments({ functionId: fn.$id });
    await rejectsWith(
      () =>
        functions.createDeployment({
          functionId: fn.$id,
          code: InputFile.fromBuffer(Buffer.from('this is not a tarball\n'), 'code.txt'),
          activate: true,
        }),
      400,
      'storage_file_type_unsupported',
    );
    const afterList = await functions.listDeployments({ functionId: fn.$id });
    assert.equal(afterList.total, before.total);
    assert.equal(afterList.total, 0);
    const again = await functions.get({ functionId: fn.$id });
    assert.equal(again.deploymentId, '');
    assert.equal(again.latestDeploymentId, '');
  });
});

// ---------------------------------------------------------------------------------------------
// deploy and run node-hello

describe('node-hello', () => {
  test('builds to ready and activates', { timeout: BUILD_TIMEOUT_MS + 30_000 }, async () => {
    const { fn, deployment } = await hello;
    assert.equal(fn.runtime, 'node-18.0');
    assert.equal(fn.entrypoint, 'index.js');
    assert.equal(fn.commands, 'npm install');
    assert.equal(fn.deploymentId, '');
    assert.equal(deployment.status, 'ready', `build logs:\n${deployment.buildLogs}`);
    assert.equal(deployment.resourceId, fn.$id);
    assert.ok(deployment.sourceSize > 0, 'sourceSize > 0');
    assert.ok(deployment.buildSize > 0, 'buildSize > 0');
    assert.ok(deployment.buildLogs.length > 0, 'buildLogs captured');
    console.log(`[e2e] node-hello build: ${deployment.buildDuration}s (buildDuration)`);

    const activated = await functions.updateFunctionDeployment({
      functionId: fn.$id,
      deploymentId: deployment.$id,
    });
    assert.equal(activated.deploymentId, deployment.$id);
    const got = await functions.get({ functionId: fn.$id });
    assert.equal(got.deploymentId, deployment.$id);
  });

  test('synchronous execution echoes the request (cold start)', { timeout: 120_000 }, async () => {
    const { fn } = await hello;
    const t0 = performance.now();
    const ex = await functions.createExecution({
      functionId: fn.$id,
      body: JSON.stringify({ hello: 'world' }),
      async: false,
      xpath: '/hello?x=1',
      method: ExecutionMethod.POST,
      headers: { 'content-type': 'application/json', 'x-e2e-header': 'e2e-value' },
    });
    const coldMs = performance.now() - t0;
    console.log(`[e2e] cold start: first sync execution ${coldMs.toFixed(0)} ms wall, duration ${ex.duration}s`);

    assert.equal(ex.status, 'completed', `errors: ${ex.errors}`);
    assert.equal(ex.responseStatusCode, 200);
    assert.equal(ex.functionId, fn.$id);
    assert.equal(ex.trigger, 'http');
    assert.equal(ex.requestMethod, 'POST');
    assert.equal(ex.requestPath, '/hello?x=1');
    assert.ok(ex.duration > 0, 'duration > 0');
    assert.match(header(ex.responseHeaders, 'content-type') ?? '', /application\/json/);

    const echo = JSON.parse(ex.responseBody);
    assert.equal(echo.method, 'POST');
    assert.equal(echo.path, '/hello');
    assert.deepEqual({ ...echo.query }, { x: '1' });
    assert.equal(echo.headers['x-e2e-header'], 'e2e-value');
    const body = typeof echo.body === 'string' ? JSON.parse(echo.body) : echo.body;
    assert.deepEqual(body, { hello: 'world' });

    assert.equal(header(ex.responseHeaders, 'x-node-hello'), 'yes');
    assert.equal(echo.isNumber['42'], true, 'the npm dependency installed by the build is used');
    assert.match(ex.logs, /node-hello called: POST \/hello/);
    assert.match(ex.errors, /node-hello error channel check/);

    const stored = await functions.getExecution({ functionId: fn.$id, executionId: ex.$id });
    assert.equal(stored.status, 'completed');
    assert.equal(stored.responseStatusCode, 200);
    assert.equal(stored.logs, ex.logs);
  });

  test(`warm synchronous executions (${WARM_CALLS} calls)`, { timeout: 300_000 }, async () => {
    const { fn } = await hello;
    const times = [];
    const durations = [];
    for (let i = 0; i < WARM_CALLS; i++) {
      const t0 = performance.now();
      const ex = await functions.createExecution({
        functionId: fn.$id,
        xpath: `/warm?i=${i}`,
        method: ExecutionMethod.GET,
      });
      times.push(performance.now() - t0);
      durations.push(ex.duration * 1000);
      assert.equal(ex.status, 'completed', `call ${i}: ${ex.errors}`);
      assert.equal(ex.responseStatusCode, 200);
    }
    times.sort((a, b) => a - b);
    durations.sort((a, b) => a - b);
    console.log(
      `[e2e] warm sync over ${WARM_CALLS} calls: p50 ${percentile(times, 50).toFixed(1)} ms, ` +
        `p90 ${percentile(times, 90).toFixed(1)} ms, p99 ${percentile(times, 99).toFixed(1)} ms, ` +
        `max ${times[times.length - 1].toFixed(1)} ms wall (SDK round trip); ` +
        `execution.duration p50 ${percentile(durations, 50).toFixed(1)} ms`,
    );
  });

  test('asynchronous execution: 202 waiting, then completed', { timeout: 150_000 }, async () => {
    const { fn } = await hello;
    const res = await raw('POST', `/functions/${fn.$id}/executions`, {
      body: JSON.stringify({ async: true, path: '/async?y=2', method: 'PUT', body: 'async body' }),
    });
    assert.equal(res.status, 202, res.text);
    assert.ok(['waiting', 'processing'].includes(res.json.status), res.json.status);
    assert.equal(res.json.responseStatusCode, 0);
    const done = await waitExecution(fn.$id, res.json.$id);
    assert.equal(done.status, 'completed', `errors: ${done.errors}`);
    assert.equal(done.responseStatusCode, 200);
    assert.equal(done.requestMethod, 'PUT');
    assert.equal(done.requestPath, '/async?y=2');
    assert.match(done.logs, /node-hello called: PUT \/async/);
    assert.ok(done.duration > 0, 'duration > 0');
  });

  test('a function that throws => failed, 500, error in errors', { timeout: 120_000 }, async () => {
    const { fn } = await hello;
    const ex = await functions.createExecution({ functionId: fn.$id, xpath: '/throw' });
    assert.equal(ex.status, 'failed');
    assert.equal(ex.responseStatusCode, 500);
    assert.match(ex.errors, /node-hello was asked to throw/);
  });
});

describe('limits and failures', () => {
  test('an execution over the function timeout => failed, 500, timed out', { timeout: BUILD_TIMEOUT_MS + 60_000 }, async () => {
    const { fn, deployment } = await slow;
    assert.equal(deployment.status, 'ready', `build logs:\n${deployment.buildLogs}`);
    await functions.updateFunctionDeployment({ functionId: fn.$id, deploymentId: deployment.$id });
    const t0 = performance.now();
    const ex = await functions.createExecution({ functionId: fn.$id, xpath: '/slow' });
    const wallMs = performance.now() - t0;
    assert.equal(ex.status, 'failed');
    assert.equal(ex.responseStatusCode, 500);
    assert.match(ex.errors, /timed out/i);
    assert.ok(wallMs < 30_000, `answered within the 30 s sync limit (${wallMs.toFixed(0)} ms)`);
  });

  test('a build command that fails => deployment failed with the output in buildLogs', { timeout: BUILD_TIMEOUT_MS + 30_000 }, async () => {
    const { fn, deployment } = await broken;
    assert.equal(deployment.status, 'failed');
    assert.match(deployment.buildLogs, /building/);
    assert.match(deployment.buildLogs, /3/);
    await rejectsWith(
      () => functions.updateFunctionDeployment({ functionId: fn.$id, deploymentId: deployment.$id }),
      400,
      'build_not_ready',
    );
    const got = await functions.get({ functionId: fn.$id });
    assert.equal(got.deploymentId, '');
  });
});
