// End-to-end: variables, queries, projects/keys and scopes through node-appwrite against the
// running e2e stack (same env as functions.test.mjs: E2E_ENDPOINT, E2E_PROJECT, E2E_KEY).
//
// A second project and its keys are made with the gateway's admin command
// (`scripts/stack.sh admin e2e create-project|create-key ...`, which runs target/debug/api-gateway
// with the e2e stack's settings).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Functions, ID, Query } from 'node-appwrite';
import { ROOT, deployAndActivate, rejectsWith } from './support.mjs';

const ENDPOINT = process.env.E2E_ENDPOINT ?? 'http://127.0.0.1:18080/v1';
const PROJECT = process.env.E2E_PROJECT ?? 'e2e';
const KEY = process.env.E2E_KEY ?? '';

const functions = new Functions(new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setKey(KEY));
const work = mkdtempSync(join(tmpdir(), 'fnplat-e2e-vars-'));
const created = [];

function admin(...args) {
  return execFileSync(join(ROOT, 'scripts/stack.sh'), ['admin', 'e2e', ...args], {
    encoding: 'utf8',
  }).trim();
}

function client(project, key) {
  return new Functions(new Client().setEndpoint(ENDPOINT).setProject(project).setKey(key));
}


async function createFunction(params) {
  const fn = await functions.create({
    functionId: ID.unique(),
    name: 'vars-auth',
    runtime: 'node-18.0',
    entrypoint: 'index.js',
    commands: 'npm install',
    ...params,
  });
  created.push(fn.$id);
  return fn;
}


async function echo(functionId) {
  const ex = await functions.createExecution({ functionId, body: '', path: '/', method: 'GET' });
  assert.equal(ex.status, 'completed', `${ex.errors}`);
  return JSON.parse(ex.responseBody);
}

let fn; // node-hello with scopes ["functions.read"]
let projectVar;

before(async () => {
  assert.ok(KEY, 'E2E_KEY is set');
  fn = await createFunction({ scopes: ['functions.read'] });
  // No node-appwrite service wraps /v1/project/variables in this SDK version: plain HTTP.
  const res = await fetch(`${ENDPOINT}/project/variables`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-appwrite-project': PROJECT, 'x-appwrite-key': KEY },
    body: JSON.stringify({ variableId: ID.unique(), key: 'FNPLAT_TEST_VAR', value: 'from-project' }),
  });
  assert.equal(res.status, 201);
  projectVar = await res.json();
  await deployAndActivate(functions, fn, work);
});

after(async () => {
  for (const id of created) {
    try {
      await functions.delete({ functionId: id });
    } catch {
      // already gone
    }
  }
  if (projectVar) {
    await fetch(`${ENDPOINT}/project/variables/${projectVar.$id}`, {
      method: 'DELETE',
      headers: { 'x-appwrite-project': PROJECT, 'x-appwrite-key': KEY },
    });
  }
  rmSync(work, { recursive: true, force: true });
});

describe('variables', () => {
  test('project then function variables reach the function; secrets never come back', async () => {
    assert.equal(projectVar.value, '', 'secret project variable value is hidden');
    assert.equal((await echo(fn.$id)).env.custom, 'from-project');

    const v = await functions.createVariable({
      functionId: fn.$id,
      variableId: ID.unique(),
      key: 'FNPLAT_TEST_VAR',
      value: 'super-secret-value',
    });
    assert.equal(v.secret, true);
    assert.equal(v.value, '');
    assert.equal((await echo(fn.$id)).env.custom, 'super-secret-value');

    const got = await functions.getVariable({ functionId: fn.$id, variableId: v.$id });
    const list = await functions.listVariables({ functionId: fn.$id });
    const f = await functions.get({ functionId: fn.$id });
    const all = await functions.list();
    assert.equal(list.total, 1);
    assert.equal(f.vars.length, 1);
    assert.equal(f.vars[0].key, 'FNPLAT_TEST_VAR');
    assert.equal(f.live, false);
    for (const body of [got, list, f, all]) {
      assert.ok(!JSON.stringify(body).includes('super-secret-value'), 'secret leaked');
    }
    await rejectsWith(
      () => functions.updateVariable({ functionId: fn.$id, variableId: v.$id, key: 'FNPLAT_TEST_VAR', secret: false }),
      400,
      'variable_cannot_unset_secret',
    );
    await rejectsWith(
      () => functions.createVariable({ functionId: fn.$id, variableId: ID.unique(), key: 'FNPLAT_TEST_VAR', value: 'x' }),
      409,
      'variable_already_exists',
    );
    const plain = await functions.createVariable({
      functionId: fn.$id,
      variableId: ID.unique(),
      key: 'PLAIN',
      value: 'visible',
      secret: false,
    });
    assert.equal(plain.value, 'visible');
    const onlyPlain = await functions.listVariables({
      functionId: fn.$id,
      queries: [Query.equal('secret', false)],
    });
    assert.deepEqual(onlyPlain.variables.map((x) => x.key), ['PLAIN']);

    await functions.deleteVariable({ functionId: fn.$id, variableId: v.$id });
    assert.equal((await echo(fn.$id)).env.custom, 'from-project');
  });
});

describe('queries through the SDK Query helpers', () => {
  test('filters, orders, cursors, pagination, select, total=false', async () => {
    const tag = `q${Date.now().toString(36)}`;
    const made = [];
    for (const [i, timeout] of [[1, 10], [2, 20], [3, 30]]) {
      made.push(await createFunction({ name: `${tag}-${i}`, timeout }));
    }
    const mine = Query.startsWith('name', tag);
    const page1 = await functions.list({ queries: [mine, Query.orderDesc('timeout'), Query.limit(2)] });
    assert.equal(page1.total, 3);
    assert.deepEqual(page1.functions.map((f) => f.timeout), [30, 20]);
    const page2 = await functions.list({
      queries: [mine, Query.orderDesc('timeout'), Query.limit(2), Query.cursorAfter(page1.functions[1].$id)],
    });
    assert.deepEqual(page2.functions.map((f) => f.timeout), [10]);
    const before = await functions.list({
      queries: [mine, Query.orderDesc('timeout'), Query.cursorBefore(page2.functions[0].$id)],
    });
    assert.deepEqual(before.functions.map((f) => f.timeout), [30, 20]);
    const offset = await functions.list({ queries: [mine, Query.offset(1), Query.limit(1)] });
    assert.equal(offset.functions[0].$id, made[1].$id);
    const between = await functions.list({ queries: [mine, Query.between('timeout', 15, 35)] });
    assert.deepEqual(between.functions.map((f) => f.timeout).sort(), [20, 30]);
    const either = await functions.list({
      queries: [Query.or([Query.equal('$id', made[0].$id), Query.greaterThanEqual('timeout', 30)]), mine],
    });
    assert.deepEqual(either.functions.map((f) => f.$id).sort(), [made[0].$id, made[2].$id].sort());
    const newer = await functions.list({ queries: [mine, Query.createdAfter('2000-01-01T00:00:00.000+00:00')] });
    assert.equal(newer.total, 3);
    const noTotal = await functions.list({ queries: [mine], total: false });
    assert.equal(noTotal.total, 0);
    assert.equal(noTotal.functions.length, 3);
    const searched = await functions.list({ search: `${tag}-2` });
    assert.deepEqual(searched.functions.map((f) => f.$id), [made[1].$id]);

    const deployments = await functions.listDeployments({
      functionId: fn.$id,
      queries: [Query.select(['status']), Query.equal('status', 'ready')],
    });
    assert.ok(deployments.total >= 1);
    assert.equal(deployments.deployments[0].status, 'ready');
    assert.equal(deployments.deployments[0].sourceSize, undefined, 'non-selected attribute omitted');

    const execs = await functions.listExecutions({
      functionId: fn.$id,
      queries: [Query.equal('status', 'completed'), Query.orderDesc('$createdAt'), Query.limit(1)],
    });
    assert.equal(execs.executions.length, 1);

    await rejectsWith(() => functions.list({ queries: [Query.equal('nope', 'x')] }), 400, 'general_query_invalid');
    await rejectsWith(() => functions.list({ queries: [Query.select(['name'])] }), 400, 'general_query_invalid');
    const err = await rejectsWith(
      () => functions.list({ queries: [Query.cursorAfter('does-not-exist')] }),
      400,
      'general_cursor_not_found',
    );
    assert.equal(err.message, "Function 'does-not-exist' for the 'cursor' value not found.");
  });
});

describe('projects, keys and scopes', () => {
  test('a second project from the admin command is isolated and its keys are scoped', async () => {
    const other = `p${Date.now().toString(36)}`;
    assert.match(admin('create-project', other), /created/);
    const readKey = admin('create-key', '--project', other, '--scopes', 'functions.read');
    const writeKey = admin('create-key', '--project', other, '--scopes', 'functions.read,functions.write');
    assert.match(readKey, /^standard_[0-9a-f]{64}$/);

    const reader = client(other, readKey);
    const writer = client(other, writeKey);
    const empty = await reader.list();
    assert.equal(empty.total, 0, 'the e2e project functions are not visible');
    await rejectsWith(() => reader.get({ functionId: fn.$id }), 404, 'function_not_found');
    const err = await rejectsWith(
      () => reader.create({ functionId: ID.unique(), name: 'x', runtime: 'node-18.0' }),
      401,
      'general_unauthorized_scope',
    );
    assert.match(err.message, /missing scopes \(\["functions\.write"\]\)/);
    const theirs = await writer.create({ functionId: fn.$id, name: 'same id, other project', runtime: 'node-18.0' });
    assert.equal(theirs.$id, fn.$id);
    assert.equal((await functions.get({ functionId: fn.$id })).name, 'vars-auth');
    await rejectsWith(() => writer.listExecutions({ functionId: fn.$id }), 401, 'general_unauthorized_scope');
    // keys only work in their own project
    await rejectsWith(() => client(PROJECT, writeKey).list(), 401, 'general_unauthorized_scope');
    await rejectsWith(() => client(other, KEY).list(), 401, 'general_unauthorized_scope');
    await rejectsWith(() => client('no-such-project', KEY).list(), 404, 'project_not_found');
    const expired = admin('create-key', '--project', other, '--scopes', 'functions.read', '--expire', '2020-01-01T00:00:00Z');
    await rejectsWith(() => client(other, expired).list(), 401, 'project_key_expired');
    await writer.delete({ functionId: fn.$id });
  });

  test("the function's ephemeral key (x-appwrite-key) carries only the function's scopes", async () => {
    const echoed = await echo(fn.$id);
    const key = echoed.headers['x-appwrite-key'];
    assert.match(key, /^ephemeral_/);
    const scoped = client(PROJECT, key);
    const list = await scoped.list();
    assert.ok(list.total >= 1);
    await rejectsWith(
      () => scoped.create({ functionId: ID.unique(), name: 'x', runtime: 'node-18.0' }),
      401,
      'general_unauthorized_scope',
    );
    await rejectsWith(() => scoped.listExecutions({ functionId: fn.$id }), 401, 'general_unauthorized_scope');
  });
});
