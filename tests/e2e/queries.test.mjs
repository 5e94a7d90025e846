// End-to-end: the `regex`, `exists` and `notExists` queries (spec 5) built by node-appwrite's own
// `Query` helpers, on functions, variables, deployments and executions, alone and nested in
// `Query.or`/`Query.and`, and their 400 `general_query_invalid` errors (bad pattern, unknown
// attribute) as AppwriteExceptions. Same env as functions.test.mjs: E2E_ENDPOINT, E2E_PROJECT,
// E2E_KEY.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Functions, ID, Query } from 'node-appwrite';
import { deployAndActivate, rejectsWith } from './support.mjs';

const ENDPOINT = process.env.E2E_ENDPOINT ?? 'http://127.0.0.1:18080/v1';
const PROJECT = process.env.E2E_PROJECT ?? 'e2e';
const KEY = process.env.E2E_KEY ?? '';

const functions = new Functions(new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setKey(KEY));
const work = mkdtempSync(join(tmpdir(), 'fnplat-e2e-queries-'));
const created = [];
// A per-run marker so the project's other functions never match the name patterns.
const RUN = `q${Date.now().toString(36)}`;

async function invalidQuery(fn, message) {
  const err = await rejectsWith(fn, 400, 'general_query_invalid');
  assert.match(err.message, message);
}

const names = (list) => list.functions.map((f) => f.name).sort();

let fns; // name suffix -> function
let deployment;

before(async () => {
  assert.ok(KEY, 'E2E_KEY is set');
  fns = {};
  for (const suffix of ['alpha', 'beta', 'gamma']) {
    const fn = await functions.create({
      functionId: ID.unique(),
      name: `${RUN}-${suffix}`,
      runtime: 'node-18.0',
      entrypoint: 'index.js',
      commands: 'npm install',
    });
    created.push(fn.$id);
    fns[suffix] = fn;
  }
  deployment = await deployAndActivate(functions, fns.alpha, work);
});

after(async () => {
  for (const id of created) {
    try {
      await functions.delete({ functionId: id });
    } catch {
      // already gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

describe('regex / exists / notExists through node-appwrite', () => {
  test('functions', async () => {
    const mine = Query.startsWith('name', `${RUN}-`);
    let list = await functions.list({ queries: [mine, Query.regex('name', `^${RUN}-(alpha|gamma)$`)] });
    assert.deepEqual(names(list), [`${RUN}-alpha`, `${RUN}-gamma`]);
    assert.equal(list.total, 2);
    // Case-sensitive like PostgreSQL's `~`.
    list = await functions.list({ queries: [mine, Query.regex('name', 'BETA')] });
    assert.deepEqual(names(list), []);
    list = await functions.list({ queries: [mine, Query.exists(['name', 'schedule', 'timeout'])] });
    assert.deepEqual(names(list), [`${RUN}-alpha`, `${RUN}-beta`, `${RUN}-gamma`]);
    list = await functions.list({ queries: [mine, Query.notExists(['name'])] });
    assert.deepEqual(names(list), []);
    list = await functions.list({
      queries: [
        mine,
        Query.or([
          Query.notExists(['runtime']),
          Query.and([Query.regex('name', 'a$'), Query.exists(['entrypoint'])]),
        ]),
      ],
    });
    assert.deepEqual(names(list), [`${RUN}-alpha`, `${RUN}-beta`, `${RUN}-gamma`]);
    list = await functions.list({
      queries: [mine, Query.or([Query.regex('name', 'ph'), Query.regex('$id', `^${fns.beta.$id}$`)])],
    });
    assert.deepEqual(names(list), [`${RUN}-alpha`, `${RUN}-beta`]);

    await invalidQuery(() => functions.list({ queries: [Query.regex('name', '(')] }), /regular expression/);
    await invalidQuery(
      () => functions.list({ queries: [Query.or([Query.regex('name', 'a{2,1}'), Query.exists(['name'])])] }),
      /regular expression/,
    );
    await invalidQuery(
      () => functions.list({ queries: [Query.exists(['name', 'nope'])] }),
      /Attribute not found in schema: nope/,
    );
    await invalidQuery(
      () => functions.list({ queries: [Query.notExists(['vars'])] }),
      /Attribute not found in schema: vars/,
    );
    await invalidQuery(() => functions.list({ queries: [Query.regex('timeout', '1')] }), /regex/);
  });

  test('variables', async () => {
    const functionId = fns.beta.$id;
    for (const key of ['API_KEY', 'API_URL', 'DEBUG']) {
      await functions.createVariable({ functionId, variableId: ID.unique(), key, value: 'v' });
    }
    const keys = (list) => list.variables.map((v) => v.key).sort();
    let list = await functions.listVariables({ functionId, queries: [Query.regex('key', '^API_')] });
    assert.deepEqual(keys(list), ['API_KEY', 'API_URL']);
    list = await functions.listVariables({ functionId, queries: [Query.exists(['key', 'secret'])] });
    assert.deepEqual(keys(list), ['API_KEY', 'API_URL', 'DEBUG']);
    list = await functions.listVariables({
      functionId,
      queries: [Query.or([Query.notExists(['key']), Query.regex('key', 'G$')])],
    });
    assert.deepEqual(keys(list), ['DEBUG']);
    await invalidQuery(
      () => functions.listVariables({ functionId, queries: [Query.exists(['value'])] }),
      /Attribute not found in schema: value/,
    );
    await invalidQuery(
      () => functions.listVariables({ functionId, queries: [Query.regex('key', 'a)')] }),
      /regular expression/,
    );
  });

  test('deployments and executions', async () => {
    const functionId = fns.alpha.$id;
    let list = await functions.listDeployments({
      functionId,
      queries: [Query.regex('status', '^re.dy$'), Query.exists(['type', 'buildSize'])],
    });
    assert.deepEqual(
      list.deployments.map((d) => d.$id),
      [deployment.$id],
    );
    list = await functions.listDeployments({ functionId, queries: [Query.notExists(['status'])] });
    assert.equal(list.total, 0);
    await invalidQuery(
      () => functions.listDeployments({ functionId, queries: [Query.regex('status', '*')] }),
      /regular expression/,
    );

    const ran = [];
    for (const path of ['/alpha', '/beta?x=1', '/gamma/2']) {
      const ex = await functions.createExecution({ functionId, xpath: path, method: 'GET' });
      assert.equal(ex.status, 'completed', ex.errors);
      ran.push(ex.$id);
    }
    let executions = await functions.listExecutions({
      functionId,
      queries: [Query.regex('requestPath', '^/(alpha|gamma)')],
    });
    assert.deepEqual(executions.executions.map((e) => e.$id).sort(), [ran[0], ran[2]].sort());
    executions = await functions.listExecutions({
      functionId,
      queries: [Query.and([Query.exists(['requestPath', 'status']), Query.regex('requestPath', '\\?x=\\d$')])],
    });
    assert.deepEqual(
      executions.executions.map((e) => e.$id),
      [ran[1]],
    );
    executions = await functions.listExecutions({ functionId, queries: [Query.notExists(['trigger'])] });
    assert.equal(executions.total, 0);
    await invalidQuery(
      () => functions.listExecutions({ functionId, queries: [Query.exists(['logs'])] }),
      /Attribute not found in schema: logs/,
    );
  });
});
