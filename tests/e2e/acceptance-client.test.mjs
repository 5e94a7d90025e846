// Acceptance: spec §15 "Client (session) — FunctionsCustomClientTest", "Console —
// FunctionsConsoleClientTest" and "Schedules — FunctionsScheduleTest", one test per assertion
// group, named after the Appwrite test, through node-appwrite (raw fetch where the SDK can't
// express a row: HEAD, download content-type, partial variable updates, unknown body params).
//
// Adaptations:
// - There are no accounts/sessions: a "client" is a user JWT (HS256 signed with the stack's
//   E2E_JWT_SECRET, claims userId/sessionId/exp, sent as X-Appwrite-JWT via Client.setJWT) or a
//   guest (project header only). "Console" is the API key.
// - node-20.0 instead of node-22 (not installed on this machine), so RUNTIME_VERSION is "20.0".
// - The CRON row uses a 6-field seconds schedule (`*/5 * * * * *`, e2e stack: ALLOW_SECONDS) and
//   scheduledAt the next whole minute at least MIN_SCHEDULED_AT_SECONDS (5) ahead, not +2 min.
// - "document-create event fires a function for client-created docs": no databases service here,
//   so the test publishes `databases.<db>.collections.<col>.documents.<doc>.create` on RabbitMQ
//   (fnplat.events, as tests/e2e/events.test.mjs does) and checks the subscribed function runs.
//
// Two deployments are built once in `before` (in parallel): `main` (node-20.0, echoes env and
// headers, logs and errors) and `cron` (same code, schedule every 5 s). A third function has no
// deployment. Env: E2E_ENDPOINT, E2E_PROJECT, E2E_KEY, E2E_JWT_SECRET, E2E_AMQP_URL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { AppwriteException, Client, Functions, ID, Query } from 'node-appwrite';
import { InputFile } from 'node-appwrite/file';

const ENDPOINT = process.env.E2E_ENDPOINT ?? 'http://127.0.0.1:18080/v1';
const PROJECT = process.env.E2E_PROJECT ?? 'e2e';
const KEY = process.env.E2E_KEY ?? '';
const JWT_SECRET = process.env.E2E_JWT_SECRET ?? '';
const AMQP_URL = process.env.E2E_AMQP_URL ?? 'amqp://fnplat:fnplat@127.0.0.1:5672/fnplat-e2e';
const RUNTIME = 'node-20.0';
const BUILD_TIMEOUT_MS = 5 * 60_000;

const server = new Functions(new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setKey(KEY));
const guest = new Functions(new Client().setEndpoint(ENDPOINT).setProject(PROJECT));
const work = mkdtempSync(join(tmpdir(), 'fnplat-e2e-acc-client-'));
const created = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const USER = `user${randomBytes(4).toString('hex')}`;

const INDEX_JS = `module.exports = async ({ req, res, log, error }) => {
  log('acceptance-client called: ' + req.method + ' ' + req.path);
  error('acceptance-client error line');
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('APPWRITE_') || k.startsWith('ACC_')) env[k] = v;
  return res.json({ method: req.method, path: req.path, headers: req.headers, bodyText: req.bodyText, env });
};
`;

// ---------------------------------------------------------------------------------------------
// helpers

/** An HS256 user JWT the gateway accepts (claims userId, sessionId, exp). */
function jwt(userId) {
  const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({
    userId, sessionId: `s-${userId}`, exp: Math.floor(Date.now() / 1000) + 3600,
  })}`;
  return `${input}.${createHmac('sha256', JWT_SECRET).update(input).digest('base64url')}`;
}

const userToken = () => jwt(USER);
const asUser = (token) => new Functions(new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setJWT(token));

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

async function raw(method, path, { headers = {}, body } = {}) {
  const res = await fetch(ENDPOINT + path, {
    method,
    headers: {
      'x-appwrite-project': PROJECT,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, bytes, text: bytes.toString('utf8') };
}
const keyHeaders = () => ({ 'x-appwrite-key': KEY });

function archive() {
  const dir = join(work, 'src');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'index.js'), INDEX_JS);
  writeFileSync(join(dir, 'package.json'), '{"name":"acceptance-client","version":"1.0.0"}\n');
  const file = join(work, 'code.tar.gz');
  execFileSync('tar', ['-czf', file, '-C', dir, '.']);
  return file;
}

const base = (name, extra = {}) => ({
  name, runtime: RUNTIME, entrypoint: 'index.js', commands: '', timeout: 15, execute: [], ...extra,
});

async function createFunction(name, extra) {
  const fn = await server.create({ functionId: ID.unique(), ...base(name, extra) });
  created.push(fn.$id);
  return fn;
}

/** Full-parameter update (PUT replaces), keeping the fields this file uses. */
async function updateFunction(fn, extra) {
  return server.update({ functionId: fn.$id, ...base(fn.name, extra) });
}

async function deployed(name, extra) {
  const fn = await createFunction(name, extra);
  let dep = await server.createDeployment({
    functionId: fn.$id, code: InputFile.fromPath(archive(), 'code.tar.gz'), activate: true,
  });
  const deadline = Date.now() + BUILD_TIMEOUT_MS;
  while (!['ready', 'failed', 'canceled'].includes(dep.status) && Date.now() < deadline) {
    await sleep(1000);
    dep = await server.getDeployment({ functionId: fn.$id, deploymentId: dep.$id });
  }
  assert.equal(dep.status, 'ready', `build of ${name}: ${dep.buildLogs}`);
  for (let i = 0; i < 100; i++) {
    const f = await server.get({ functionId: fn.$id });
    if (f.deploymentId === dep.$id) return { fn: f, deployment: dep };
    await sleep(200);
  }
  return assert.fail(`deployment of ${name} was not activated`);
}

async function waitExecution(functionId, executionId, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const e = await server.getExecution({ functionId, executionId });
    if (['completed', 'failed'].includes(e.status)) return e;
    if (Date.now() > deadline) return assert.fail(`execution ${executionId} still ${e.status}`);
    await sleep(500);
  }
}

async function waitFor(what, probe, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe();
    if (got) return got;
    if (Date.now() > deadline) return assert.fail(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

// ---------------------------------------------------------------------------------------------

let main; // { fn, deployment }: node-20.0 echo function, execute [] at first
let cron; // { fn, deployment }: schedule every 5 s
let scheduledAt; // { execution, at } made by the scheduledAt row, checked by the last test

before(async () => {
  assert.ok(KEY, 'E2E_KEY is set');
  assert.ok(JWT_SECRET, 'E2E_JWT_SECRET is set (scripts/stack.sh env e2e)');
  [main, cron] = await Promise.all([
    deployed('acc-client-main'),
    deployed('acc-client-cron', { schedule: '*/5 * * * * *' }),
  ]);
});

after(async () => {
  for (const id of created) {
    try {
      await server.delete({ functionId: id });
    } catch {
      // already gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

describe('FunctionsScheduleTest', () => {
  test('testCreateScheduledAtExecution: async:false with scheduledAt is 400; async is 202 scheduled; delete scheduled is 204', async () => {
    const fnId = main.fn.$id;
    // The whole minute at least MIN_SCHEDULED_AT_SECONDS (5) + margin ahead: seconds must be 0.
    const at = new Date(Math.ceil((Date.now() + 8000) / 60000) * 60000);
    await rejectsWith(
      () => server.createExecution({ functionId: fnId, async: false, scheduledAt: at.toISOString() }),
      400,
    );
    await rejectsWith(
      () => server.createExecution({ functionId: fnId, async: true, scheduledAt: new Date(at.getTime() + 1000).toISOString() }),
      400,
      'general_argument_invalid',
    );
    const execution = await server.createExecution({
      functionId: fnId,
      async: true,
      scheduledAt: at.toISOString(),
      xpath: '/custom-path',
      method: 'PATCH',
      body: 'custom-body',
      headers: { 'x-custom-header': 'custom-value' },
    });
    assert.equal(execution.status, 'scheduled');
    assert.equal(execution.trigger, 'schedule');
    assert.equal(execution.requestMethod, 'PATCH');
    assert.equal(execution.requestPath, '/custom-path');
    assert.equal(new Date(execution.scheduledAt).getTime(), at.getTime());
    assert.deepEqual(execution.requestHeaders.map((h) => h.name), ['x-appwrite-client-ip'],
      JSON.stringify(execution.requestHeaders));
    scheduledAt = { execution, at };

    // raw: the status code itself
    const res = await raw('POST', `/functions/${fnId}/executions`, {
      headers: keyHeaders(), body: { async: true, scheduledAt: at.toISOString() },
    });
    assert.equal(res.status, 202, res.text);
    const cancel = JSON.parse(res.text);
    assert.equal(cancel.status, 'scheduled');
    const del = await raw('DELETE', `/functions/${fnId}/executions/${cancel.$id}`, { headers: keyHeaders() });
    assert.equal(del.status, 204, del.text);
    assert.equal(del.text, '');
    await rejectsWith(() => server.getExecution({ functionId: fnId, executionId: cancel.$id }), 404, 'execution_not_found');
  });
});

describe('FunctionsCustomClientTest', () => {
  test('testCreateFunction: a JWT user (and a guest) cannot create functions (401)', async () => {
    const params = { functionId: ID.unique(), name: 'nope', runtime: RUNTIME };
    const err = await rejectsWith(() => asUser(userToken()).create(params), 401, 'general_unauthorized_scope');
    assert.match(err.message, /missing scopes \(\["functions\.write"\]\)/);
    await rejectsWith(() => guest.create(params), 401, 'general_unauthorized_scope');
    await rejectsWith(() => asUser(jwt(USER).slice(0, -2) + 'xx').list(), 401);
  });

  test('testCreateExecution: guest without permission 401; execute:[user:<id>] lets that user run async (202)', async () => {
    const fnId = main.fn.$id;
    await rejectsWith(() => guest.createExecution({ functionId: fnId, async: true }), 401, 'user_unauthorized');
    await rejectsWith(() => asUser(userToken()).createExecution({ functionId: fnId, async: true }), 401, 'user_unauthorized');

    await updateFunction(main.fn, { execute: [`user:${USER}`] });
    await rejectsWith(() => guest.createExecution({ functionId: fnId, async: true }), 401, 'user_unauthorized');
    await rejectsWith(() => asUser(jwt(`${USER}x`)).createExecution({ functionId: fnId, async: true }), 401, 'user_unauthorized');
    const execution = await asUser(userToken()).createExecution({ functionId: fnId, async: true });
    assert.equal(execution.status, 'waiting');
    assert.equal(execution.trigger, 'http');
    assert.equal(execution.functionId, fnId);
    const done = await waitExecution(fnId, execution.$id);
    assert.equal(done.status, 'completed', done.errors);
    assert.equal(done.responseStatusCode, 200);
    assert.equal(done.responseBody, '', 'async bodies are not stored');
    const res = await raw('POST', `/functions/${fnId}/executions`, {
      headers: { 'x-appwrite-jwt': userToken() }, body: { async: true },
    });
    assert.equal(res.status, 202, res.text);
  });

  test('testListExecutions: HEAD on the executions list is 200 with an empty body', async () => {
    const path = `/functions/${main.fn.$id}/executions`;
    const head = await raw('HEAD', path, { headers: { 'x-appwrite-jwt': userToken() } });
    assert.equal(head.status, 200);
    assert.equal(head.bytes.length, 0);
    const get = await raw('GET', path, { headers: { 'x-appwrite-jwt': userToken() } });
    assert.equal(get.status, 200, get.text);
    assert.ok(Array.isArray(JSON.parse(get.text).executions));
  });

  test('testSynchronousCustomExecution: the function sees its APPWRITE_* env and trigger http', async () => {
    const token = userToken();
    const execution = await asUser(token).createExecution({ functionId: main.fn.$id, body: 'sync', async: false });
    assert.equal(execution.status, 'completed', execution.errors);
    assert.equal(execution.responseStatusCode, 200);
    assert.equal(execution.logs, '', 'logs are only shown to API keys');
    assert.equal(execution.errors, '', 'errors are only shown to API keys');
    const out = JSON.parse(execution.responseBody);
    assert.equal(out.env.APPWRITE_FUNCTION_ID, main.fn.$id);
    assert.equal(out.env.APPWRITE_FUNCTION_NAME, 'acc-client-main');
    assert.equal(out.env.APPWRITE_FUNCTION_DEPLOYMENT, main.deployment.$id);
    assert.equal(out.env.APPWRITE_FUNCTION_PROJECT_ID, PROJECT);
    assert.equal(out.env.APPWRITE_FUNCTION_RUNTIME_NAME, 'Node.js');
    assert.equal(out.env.APPWRITE_FUNCTION_RUNTIME_VERSION, '20.0');
    assert.match(out.env.APPWRITE_VERSION, /^\d+\.\d+\.\d+$/);
    assert.equal(out.headers['x-appwrite-trigger'], 'http');
    assert.equal(out.headers['x-appwrite-user-id'], USER);
    assert.equal(out.headers['x-appwrite-user-jwt'], token);
    assert.equal(out.headers['x-appwrite-execution-id'], execution.$id);
    assert.equal(out.bodyText, 'sync');
  });

  test('testCreateCustomExecutionGuest: execute:[any] lets a guest run async (202)', async () => {
    await updateFunction(main.fn, { execute: ['any'] });
    const res = await raw('POST', `/functions/${main.fn.$id}/executions`, { body: { async: true } });
    assert.equal(res.status, 202, res.text);
    const execution = JSON.parse(res.text);
    assert.equal(execution.status, 'waiting');
    const done = await waitExecution(main.fn.$id, execution.$id);
    assert.equal(done.status, 'completed', done.errors);
    const sdk = await guest.createExecution({ functionId: main.fn.$id, async: true });
    assert.equal(sdk.status, 'waiting');
  });

  test('testCreateExecutionNoDeployment: 404 deployment_not_found', async () => {
    const fn = await createFunction('acc-client-nodeploy', { execute: ['any'] });
    const err = await rejectsWith(() => guest.createExecution({ functionId: fn.$id, async: true }), 404, 'deployment_not_found');
    assert.match(err.message, /Create a deployment before trying to execute a function/);
    await rejectsWith(() => server.createExecution({ functionId: fn.$id }), 404, 'deployment_not_found');
  });

  test('testNonOverrideOfHeaders: x-appwrite-* body params are ignored, the function sees server values', async () => {
    const token = userToken();
    const res = await raw('POST', `/functions/${main.fn.$id}/executions`, {
      headers: { 'x-appwrite-jwt': token },
      body: {
        body: 'foobar',
        'x-appwrite-event': 'OVERRIDDEN',
        'x-appwrite-trigger': 'OVERRIDDEN',
        'x-appwrite-user-id': 'OVERRIDDEN',
        'x-appwrite-user-jwt': 'OVERRIDDEN',
      },
    });
    assert.equal(res.status, 201, res.text);
    const execution = JSON.parse(res.text);
    assert.equal(execution.status, 'completed', execution.errors);
    const out = JSON.parse(execution.responseBody);
    assert.equal(out.bodyText, 'foobar');
    assert.equal(out.headers['x-appwrite-trigger'], 'http');
    assert.equal(out.headers['x-appwrite-user-id'], USER);
    assert.equal(out.headers['x-appwrite-user-jwt'], token);
    assert.notEqual(out.headers['x-appwrite-event'], 'OVERRIDDEN');
    for (const v of Object.values(out.headers)) assert.notEqual(v, 'OVERRIDDEN');
  });

  test('testEventTrigger (document create): a databases.*.collections.*.documents.*.create event runs the function', async () => {
    // Adapted: no databases service; the event is published on RabbitMQ as an outside service would.
    const event = 'databases.*.collections.*.documents.*.create';
    await updateFunction(main.fn, { execute: ['any'], events: [event] });
    const docId = `doc${randomBytes(4).toString('hex')}`;
    const name = `databases.db1.collections.col1.documents.${docId}.create`;
    const payload = { $id: docId, $collectionId: 'col1', $databaseId: 'db1', title: 'created by a client' };
    const connection = await amqp.connect(AMQP_URL);
    try {
      const channel = await connection.createConfirmChannel();
      await new Promise((resolve, reject) => {
        channel.publish('fnplat.events', name,
          Buffer.from(JSON.stringify({ id: `msg-${docId}`, event: name, projectId: PROJECT, payload })),
          { contentType: 'application/json', persistent: true },
          (err) => (err ? reject(err) : resolve()));
      });
    } finally {
      await connection.close();
    }
    const execution = await waitFor('the event execution', async () => {
      const list = await server.listExecutions({
        functionId: main.fn.$id, queries: [Query.equal('trigger', 'event'), Query.orderDesc('$createdAt')],
      });
      const e = list.executions.find((x) => ['completed', 'failed'].includes(x.status));
      return e ?? null;
    });
    assert.equal(execution.status, 'completed', execution.errors);
    assert.equal(execution.requestMethod, 'POST');
    assert.match(execution.logs, /acceptance-client called: POST \//);
    await updateFunction(main.fn, { execute: ['any'] });
  });
});

describe('FunctionsConsoleClientTest', () => {
  const vars = {};

  test('testCreateVariable: plain 201, secret 201 with value "", duplicates 409, bad id/key 400', async () => {
    const fnId = main.fn.$id;
    vars.plain = await server.createVariable({
      functionId: fnId, variableId: ID.unique(), key: 'ACC_PLAIN', value: 'plain-value', secret: false,
    });
    assert.equal(vars.plain.key, 'ACC_PLAIN');
    assert.equal(vars.plain.value, 'plain-value');
    assert.equal(vars.plain.secret, false);
    assert.equal(vars.plain.resourceType, 'function');
    assert.equal(vars.plain.resourceId, fnId);
    const res = await raw('POST', `/functions/${fnId}/variables`, {
      headers: keyHeaders(), body: { variableId: 'acc-secret', key: 'ACC_SECRET', value: 'secret-value', secret: true },
    });
    assert.equal(res.status, 201, res.text);
    vars.secret = JSON.parse(res.text);
    assert.equal(vars.secret.$id, 'acc-secret');
    assert.equal(vars.secret.value, '');
    assert.equal(vars.secret.secret, true);

    await rejectsWith(
      () => server.createVariable({ functionId: fnId, variableId: ID.unique(), key: 'ACC_PLAIN', value: 'x' }),
      409, 'variable_already_exists',
    );
    await rejectsWith(
      () => server.createVariable({ functionId: fnId, variableId: '!invalid-id!', key: 'ACC_OTHER', value: 'x' }),
      400, 'general_argument_invalid',
    );
    await rejectsWith(
      () => server.createVariable({ functionId: fnId, variableId: 'acc-secret', key: 'ACC_OTHER', value: 'x' }),
      409, 'variable_already_exists',
    );
    await rejectsWith(
      () => server.createVariable({ functionId: fnId, variableId: ID.unique(), key: 'A'.repeat(256), value: 'x' }),
      400, 'general_argument_invalid',
    );
    const ok255 = await server.createVariable({ functionId: fnId, variableId: ID.unique(), key: 'B'.repeat(255), value: 'x' });
    await server.deleteVariable({ functionId: fnId, variableId: ok255.$id });
  });

  test('testListVariables: plain value and "" for secret; limit, total=false, cursor pagination', async () => {
    const fnId = main.fn.$id;
    const list = await server.listVariables({ functionId: fnId });
    assert.equal(list.total, 2);
    const byKey = Object.fromEntries(list.variables.map((v) => [v.key, v]));
    assert.equal(byKey.ACC_PLAIN.value, 'plain-value');
    assert.equal(byKey.ACC_SECRET.value, '');
    assert.ok(!JSON.stringify(list).includes('secret-value'), 'secret leaked');

    const one = await server.listVariables({ functionId: fnId, queries: [Query.limit(1)] });
    assert.equal(one.total, 2);
    assert.equal(one.variables.length, 1);
    const noTotal = await server.listVariables({ functionId: fnId, total: false });
    assert.equal(noTotal.total, 0);
    assert.equal(noTotal.variables.length, 2);
    const next = await server.listVariables({
      functionId: fnId, queries: [Query.limit(1), Query.cursorAfter(one.variables[0].$id)],
    });
    assert.equal(next.variables.length, 1);
    assert.notEqual(next.variables[0].$id, one.variables[0].$id);
    const back = await server.listVariables({
      functionId: fnId, queries: [Query.limit(1), Query.cursorBefore(next.variables[0].$id)],
    });
    assert.deepEqual(back.variables.map((v) => v.$id), [one.variables[0].$id]);
    const end = await server.listVariables({
      functionId: fnId, queries: [Query.cursorAfter(next.variables[0].$id)],
    });
    assert.equal(end.variables.length, 0);
  });

  test('testGetVariable: 200 with the model; unknown 404', async () => {
    const fnId = main.fn.$id;
    const plain = await server.getVariable({ functionId: fnId, variableId: vars.plain.$id });
    assert.equal(plain.key, 'ACC_PLAIN');
    assert.equal(plain.value, 'plain-value');
    const secret = await server.getVariable({ functionId: fnId, variableId: vars.secret.$id });
    assert.equal(secret.value, '');
    assert.equal(secret.secret, true);
    await rejectsWith(() => server.getVariable({ functionId: fnId, variableId: 'nope' }), 404, 'variable_not_found');
  });

  test('testVariableE2E: the secret variable is readable in the function env', async () => {
    const execution = await server.createExecution({ functionId: main.fn.$id, async: false });
    assert.equal(execution.status, 'completed', execution.errors);
    const out = JSON.parse(execution.responseBody);
    assert.equal(out.env.ACC_SECRET, 'secret-value');
    assert.equal(out.env.ACC_PLAIN, 'plain-value');
  });

  test('testUpdateVariable: key only, value only; unknown 404 variable_not_found', async () => {
    const fnId = main.fn.$id;
    const path = `/functions/${fnId}/variables/${vars.plain.$id}`;
    const keyOnly = await raw('PUT', path, { headers: keyHeaders(), body: { key: 'ACC_PLAIN_2' } });
    assert.equal(keyOnly.status, 200, keyOnly.text);
    assert.equal(JSON.parse(keyOnly.text).key, 'ACC_PLAIN_2');
    assert.equal(JSON.parse(keyOnly.text).value, 'plain-value');
    const valueOnly = await raw('PUT', path, { headers: keyHeaders(), body: { value: 'plain-value-2' } });
    assert.equal(valueOnly.status, 200, valueOnly.text);
    assert.equal(JSON.parse(valueOnly.text).key, 'ACC_PLAIN_2');
    assert.equal(JSON.parse(valueOnly.text).value, 'plain-value-2');
    const both = await server.updateVariable({ functionId: fnId, variableId: vars.plain.$id, key: 'ACC_PLAIN_3', value: 'v3' });
    assert.equal(both.key, 'ACC_PLAIN_3');
    assert.equal(both.value, 'v3');
    const got = await server.getVariable({ functionId: fnId, variableId: vars.plain.$id });
    assert.equal(got.key, 'ACC_PLAIN_3');
    const none = await raw('PUT', path, { headers: keyHeaders(), body: {} });
    assert.equal(none.status, 400, none.text);
    await rejectsWith(
      () => server.updateVariable({ functionId: fnId, variableId: 'unknown', key: 'X', value: 'y' }),
      404, 'variable_not_found',
    );
  });

  test('testDeleteVariable: 204 then the list is empty', async () => {
    const fnId = main.fn.$id;
    for (const v of [vars.plain, vars.secret]) {
      const res = await raw('DELETE', `/functions/${fnId}/variables/${v.$id}`, { headers: keyHeaders() });
      assert.equal(res.status, 204, res.text);
      assert.equal(res.text, '');
    }
    const list = await server.listVariables({ functionId: fnId });
    assert.equal(list.total, 0);
    assert.deepEqual(list.variables, []);
    await rejectsWith(() => server.getVariable({ functionId: fnId, variableId: vars.plain.$id }), 404, 'variable_not_found');
  });

  test('testGetDeploymentDownload: type=source and type=output are 200 application/gzip, non-empty, different', async () => {
    const path = `/functions/${main.fn.$id}/deployments/${main.deployment.$id}/download`;
    const source = await raw('GET', `${path}?type=source`, { headers: keyHeaders() });
    const output = await raw('GET', `${path}?type=output`, { headers: keyHeaders() });
    for (const res of [source, output]) {
      assert.equal(res.status, 200, res.text);
      assert.match(res.headers.get('content-type') ?? '', /^application\/gzip/);
      assert.ok(res.bytes.length > 0);
      assert.deepEqual([...res.bytes.subarray(0, 2)], [0x1f, 0x8b], 'gzip magic');
    }
    assert.ok(!source.bytes.equals(output.bytes), 'source and output differ');
    const sdk = Buffer.from(await server.getDeploymentDownload({
      functionId: main.fn.$id, deploymentId: main.deployment.$id, type: 'output',
    }));
    assert.ok(sdk.equals(output.bytes), 'the SDK downloads the same output bytes');
  });
});

describe('FunctionsScheduleTest (results)', () => {
  test('testCreateScheduledExecution: the CRON schedule produced a completed trigger=schedule execution', async () => {
    const execution = await waitFor('a completed schedule execution', async () => {
      const list = await server.listExecutions({
        functionId: cron.fn.$id, queries: [Query.equal('trigger', 'schedule'), Query.equal('status', 'completed')],
      });
      return list.executions[0] ?? null;
    });
    assert.equal(execution.trigger, 'schedule');
    assert.equal(execution.status, 'completed');
    assert.equal(execution.responseStatusCode, 200);
    assert.equal(execution.responseBody, '', 'scheduled executions do not store the body');
    assert.match(execution.logs, /acceptance-client called: POST \//);
    assert.match(execution.errors, /acceptance-client error line/);
    const full = await server.getExecution({ functionId: cron.fn.$id, executionId: execution.$id });
    assert.equal(full.trigger, 'schedule');
  });

  test('testCreateScheduledAtExecution: the scheduledAt execution later completed with 200', async () => {
    assert.ok(scheduledAt, 'the scheduledAt row created its execution');
    const wait = Math.max(0, scheduledAt.at.getTime() - Date.now());
    await sleep(wait);
    const done = await waitExecution(main.fn.$id, scheduledAt.execution.$id);
    assert.equal(done.status, 'completed', done.errors);
    assert.equal(done.responseStatusCode, 200);
    assert.equal(done.trigger, 'schedule');
    assert.equal(done.requestMethod, 'PATCH');
    assert.equal(done.requestPath, '/custom-path');
    assert.match(done.logs, /acceptance-client called: PATCH \/custom-path/);
    assert.deepEqual(done.requestHeaders.map((h) => h.name), ['x-appwrite-client-ip']);
  });
});
