// Older node-appwrite majors against one server: one SDK per response-format band of spec 13.3
// and 14. Each generation runs the same scenario with its own call signatures, and the test
// asserts the model shapes that format expects (spec 14 "Response downgrades") plus the request
// upgrades the server applies for it (legacy string queries, `data`/default commands below 1.4,
// `deployment` query attribute and `secret=false` below 1.7, `variableId` fill below 1.9.5).
//
// Env: E2E_ENDPOINT, E2E_PROJECT, E2E_KEY (scripts/stack.sh env e2e).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ENDPOINT = process.env.E2E_ENDPOINT;
const PROJECT = process.env.E2E_PROJECT;
const KEY = process.env.E2E_KEY;
if (!ENDPOINT || !PROJECT || !KEY) throw new Error('E2E_ENDPOINT, E2E_PROJECT and E2E_KEY must be set');
const HERE = dirname(fileURLToPath(import.meta.url));
const FIXTURE = resolve(HERE, '../../fixtures/node-hello');
const RUNTIME = 'node-18.0';
const BUILD_TIMEOUT_MS = 300_000;
const require = createRequire(import.meta.url);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const work = mkdtempSync(join(tmpdir(), 'fnplat-sdk-gen-'));
const tarball = join(work, 'code.tar.gz');
const created = []; // [functions service, functionId]

before(() => {
  const dir = join(work, 'src');
  cpSync(FIXTURE, dir, { recursive: true, filter: (src) => !src.includes('node_modules') });
  execFileSync('tar', ['-czf', tarball, '-C', dir, '.']);
});

after(async () => {
  for (const [functions, id] of created) {
    await functions.delete(id).catch(() => {});
  }
  rmSync(work, { recursive: true, force: true });
});

const cmp = (a, b) => {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number));
  for (let i = 0; i < 3; i += 1) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
};

// How each generation spells the calls of the scenario. `positional` SDKs take arguments in
// order; from 22 on the SDKs take one object (the positional form is deprecated there).
const GENERATIONS = [
  { pkg: 'node-appwrite-8', format: '1.0.0', cjs: true },
  { pkg: 'node-appwrite-11', format: '1.4.0', cjs: true },
  { pkg: 'node-appwrite-13', format: '1.5.0' },
  { pkg: 'node-appwrite-16', format: '1.6.0' },
  { pkg: 'node-appwrite-17', format: '1.7.0' },
  { pkg: 'node-appwrite-22', format: '1.8.0', params: true },
  { pkg: 'node-appwrite-24', format: '1.9.4', params: true },
];

async function load(gen) {
  if (gen.cjs) {
    const sdk = require(gen.pkg);
    return { ...sdk, fromPath: (p, name) => sdk.InputFile.fromPath(p, name) };
  }
  const sdk = await import(gen.pkg);
  const { InputFile } = await import(`${gen.pkg}/file`);
  return { ...sdk, fromPath: (p, name) => InputFile.fromPath(p, name) };
}

function calls(gen, functions) {
  const below = (v) => cmp(gen.format, v) < 0;
  const v8 = gen.pkg === 'node-appwrite-8';
  if (gen.params) {
    return {
      create: (id, name) =>
        functions.create({ functionId: id, name, runtime: RUNTIME, execute: ['any'], timeout: 10, entrypoint: 'index.js', commands: 'npm install' }),
      list: (queries) => functions.list({ queries }),
      createVariable: (fid, id, key, value) => functions.createVariable({ functionId: fid, variableId: id, key, value }),
      listVariables: (fid) => functions.listVariables({ functionId: fid }),
      createDeployment: (fid, code) =>
        functions.createDeployment({ functionId: fid, code, activate: true, entrypoint: 'index.js', commands: 'npm install' }),
      getDeployment: (fid, did) => functions.getDeployment({ functionId: fid, deploymentId: did }),
      get: (fid) => functions.get({ functionId: fid }),
      execute: (fid, body) => functions.createExecution({ functionId: fid, body, async: false }),
      listExecutions: (fid, queries) => functions.listExecutions({ functionId: fid, queries }),
      getExecution: (fid, eid) => functions.getExecution({ functionId: fid, executionId: eid }),
    };
  }
  return {
    // 8.x: create(functionId, name, execute, runtime, ...) and no entrypoint/commands on the
    // function: the server fills the runtime's default build command below 1.4.
    create: (id, name) =>
      v8
        ? functions.create(id, name, ['any'], RUNTIME, undefined, undefined, 10)
        : functions.create(id, name, RUNTIME, ['any'], undefined, undefined, 10, undefined, undefined, 'index.js', 'npm install'),
    list: (queries, search) => functions.list(queries, search),
    createVariable: (fid, _id, key, value) => functions.createVariable(fid, key, value),
    listVariables: (fid) => functions.listVariables(fid),
    createDeployment: (fid, code) =>
      v8 ? functions.createDeployment(fid, 'index.js', code, true) : functions.createDeployment(fid, code, true, 'index.js', below('1.4.0') ? undefined : 'npm install'),
    getDeployment: (fid, did) => functions.getDeployment(fid, did),
    get: (fid) => functions.get(fid),
    execute: (fid, body) => functions.createExecution(fid, body, false),
    listExecutions: (fid, queries) => functions.listExecutions(fid, queries),
    getExecution: (fid, eid) => functions.getExecution(fid, eid),
  };
}

for (const gen of GENERATIONS) {
  describe(`${gen.pkg} (X-Appwrite-Response-Format ${gen.format})`, () => {
    const below = (v) => cmp(gen.format, v) < 0;
    let sdk;
    let functions;
    let api;
    let fnId;
    let deploymentId;
    let executionId;
    const name = `gen-${gen.pkg.split('-').pop()}-${Date.now()}`;

    before(async () => {
      sdk = await load(gen);
      const client = new sdk.Client().setEndpoint(ENDPOINT).setProject(PROJECT).setKey(KEY);
      functions = new sdk.Functions(client);
      api = calls(gen, functions);
    });

    test('create and list the function with this generation\'s queries', async () => {
      const fn = await api.create(sdk.ID.unique(), name);
      fnId = fn.$id;
      created.push([functions, fnId]);
      assert.equal(fn.name, name);
      assert.equal(fn.runtime, RUNTIME);
      assert.deepEqual(fn.execute, ['any']);
      assert.equal(fn.timeout, 10);
      if (below('1.7.0')) {
        assert.equal(fn.deployment, '', 'below 1.7 the active deployment is `deployment`');
        assert.ok(!('deploymentId' in fn));
      } else {
        assert.equal(fn.deploymentId, '');
        assert.ok(!('deployment' in fn));
      }
      assert.equal('scopes' in fn, !below('1.6.0'), 'scopes from 1.6 on');
      assert.equal('specification' in fn, !below('1.6.0') && below('1.9.0'), 'specification in 1.6-1.8');
      assert.equal('buildSpecification' in fn, !below('1.9.0'));
      if (below('1.4.0')) assert.equal(fn.commands, 'npm install', 'default build command filled below 1.4');

      const byName = await api.list([sdk.Query.equal('name', [name])]);
      assert.equal(byName.total, 1);
      assert.equal(byName.functions[0].$id, fnId);
      const limited = await api.list([sdk.Query.equal('name', [name]), sdk.Query.limit(1), sdk.Query.orderDesc('$createdAt')]);
      assert.deepEqual(limited.functions.map((f) => f.$id), [fnId]);
      const none = await api.list([sdk.Query.equal('name', [`${name}-other`])]);
      assert.equal(none.total, 0);
    });

    test('variables: old formats get plain variables', async () => {
      const v = await api.createVariable(fnId, sdk.ID.unique(), 'GEN_VAR', 'gen-value');
      assert.ok(v.$id && v.$id !== 'unique()', 'the server fills the variable id');
      assert.equal(v.key, 'GEN_VAR');
      if (below('1.7.0')) {
        assert.equal(v.value, 'gen-value', 'secret=false below 1.7');
        assert.ok(!('secret' in v));
      } else {
        assert.equal(v.secret, true, 'secret by default from 1.7 on');
        assert.equal(v.value, '');
      }
      if (below('1.4.0')) assert.equal(v.functionId, fnId);
      else assert.equal(v.resourceId, fnId);
      const list = await api.listVariables(fnId);
      assert.equal(list.total, 1);
      assert.equal(list.variables[0].key, 'GEN_VAR');
    });

    test('deploy, build and activate', async () => {
      const dep = await api.createDeployment(fnId, sdk.fromPath(tarball, 'code.tar.gz'));
      deploymentId = dep.$id;
      assert.ok(deploymentId);
      const deadline = Date.now() + BUILD_TIMEOUT_MS;
      let d = dep;
      while (!['ready', 'failed', 'canceled'].includes(d.status)) {
        assert.ok(Date.now() < deadline, `build still ${d.status}`);
        await sleep(500);
        d = await api.getDeployment(fnId, deploymentId);
      }
      assert.equal(d.status, 'ready', `build failed: ${JSON.stringify(d).slice(0, 2000)}`);
      if (below('1.4.0')) {
        assert.equal(typeof d.buildStdout, 'string');
        assert.equal(d.buildStderr, '');
        assert.ok(!('buildLogs' in d));
      } else {
        assert.equal(typeof d.buildLogs, 'string');
      }
      if (below('1.7.0')) {
        assert.ok(d.size > 0, 'below 1.7 the size is `size`');
        assert.equal(typeof d.buildTime, 'number');
        assert.ok(!('sourceSize' in d));
      } else {
        assert.ok(d.sourceSize > 0);
        assert.ok(!('size' in d));
      }
      let fn = await api.get(fnId);
      for (let i = 0; i < 40 && (below('1.7.0') ? fn.deployment : fn.deploymentId) !== deploymentId; i += 1) {
        await sleep(250);
        fn = await api.get(fnId);
      }
      assert.equal(below('1.7.0') ? fn.deployment : fn.deploymentId, deploymentId, 'activated');
      if (below('1.7.0')) {
        const byDeployment = await api.list([sdk.Query.equal('deployment', [deploymentId])]);
        assert.deepEqual(byDeployment.functions.map((f) => f.$id), [fnId], 'old `deployment` query attribute');
      }
    });

    test('execute and read the execution back in this format', async () => {
      const body = `hello from ${gen.pkg}`;
      const ex = await api.execute(fnId, body);
      executionId = ex.$id;
      assert.equal(ex.status, 'completed', JSON.stringify(ex).slice(0, 2000));
      let echoed;
      if (below('1.4.0')) {
        assert.equal(ex.statusCode, 200);
        assert.ok(!('responseStatusCode' in ex));
        echoed = JSON.parse(ex.response);
        assert.match(ex.stdout, /node-hello called/);
        assert.match(ex.stderr, /error channel check/);
      } else {
        assert.equal(ex.responseStatusCode, 200);
        echoed = JSON.parse(ex.responseBody);
        assert.match(ex.logs, /node-hello called/);
        assert.match(ex.errors, /error channel check/);
      }
      assert.equal(echoed.bodyText, body, 'the body (sent as `data` by 8.x) reaches the function');
      assert.equal(echoed.method, 'POST');
      assert.equal('scheduledAt' in ex, !below('1.6.0'), 'scheduledAt from 1.6 on');

      const got = await api.getExecution(fnId, executionId);
      assert.equal(got.$id, executionId);
      assert.equal(got.status, 'completed');
      const list = await api.listExecutions(fnId, [sdk.Query.equal('trigger', ['http']), sdk.Query.limit(5)]);
      assert.ok(list.executions.some((e) => e.$id === executionId));
      const failed = await api.listExecutions(fnId, [sdk.Query.equal('status', ['failed'])]);
      assert.equal(failed.total, 0);
    });
  });
}
