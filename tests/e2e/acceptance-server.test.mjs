// Acceptance: spec §15 "Server (API key) — FunctionsCustomServerTest", one test per row, named
// after the row, through node-appwrite (raw fetch where the SDK can't express a row).
//
// Adaptations (say why in the row's comment): node-20.0 / node-18.0 instead of node-22; the
// function-side API calls of testScopes use functions.read/list (no users service here) and are
// made from the test with the key the function/build was given (the sandbox has no route to the
// gateway); testEventTrigger publishes users.<id>.create on RabbitMQ (no users service).
//
// A handful of deployments are built once in `before` and shared by the rows:
//   main   node-20.0, build spec s-2vcpu-2gb, runtime spec s-1vcpu-1gb, scopes functions.read,
//          build command `node build.js` (records the build env into build-info.json)
//   other  node-18.0, timeout 3: the rows that update the function (logging, specs, timeout)
//   target node-18.0: the deployment rows (CLI, single chunk, large, out of order, parallel, …)
//   custom one tiny "OK" function per runtime (testCreateCustomExecution's data provider)
//
// Env: E2E_ENDPOINT, E2E_PROJECT, E2E_KEY, E2E_AMQP_URL (see functions.test.mjs / events.test.mjs).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { AppwriteException, Client, ExecutionMethod, Functions, ID, Query } from 'node-appwrite';
import { InputFile } from 'node-appwrite/file';

const ENDPOINT = process.env.E2E_ENDPOINT ?? 'http://127.0.0.1:18080/v1';
const PROJECT = process.env.E2E_PROJECT ?? 'e2e';
const KEY = process.env.E2E_KEY ?? '';
const AMQP_URL = process.env.E2E_AMQP_URL ?? 'amqp://fnplat:fnplat@127.0.0.1:5672/fnplat-e2e';
const BUILD_TIMEOUT_MS = 5 * 60_000;
const MiB = 1024 * 1024;
const CHUNK = 5 * MiB;

const client = new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setKey(KEY);
const functions = new Functions(client);
const work = mkdtempSync(join(tmpdir(), 'fnplat-e2e-acceptance-'));
const created = [];
const projectVariables = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// fixture code

const LIMITS_JS = `// the container's cgroup limits (v1 or v2): memory in bytes, cpus = quota / period
const readFirst = (ps) => { for (const p of ps) { try { return fs.readFileSync(p, 'utf8').trim(); } catch (_) { /* next */ } } return null; };
const limits = () => {
  const v2 = readFirst(['/sys/fs/cgroup/cpu.max']);
  const [quota, period] = v2 ? v2.split(' ') : [readFirst(['/sys/fs/cgroup/cpu/cpu.cfs_quota_us']), readFirst(['/sys/fs/cgroup/cpu/cpu.cfs_period_us'])];
  return { memory: Number(readFirst(['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'])), cpus: Number(quota) / Number(period) };
};
`;

const BUILD_JS = `const fs = require('fs');
${LIMITS_JS}
const e = process.env;
const info = { memory: e.APPWRITE_FUNCTION_MEMORY, cpus: e.APPWRITE_FUNCTION_CPUS,
  key: e.APPWRITE_FUNCTION_API_KEY || '', endpoint: e.APPWRITE_FUNCTION_API_ENDPOINT || '', limits: limits() };
console.log('build spec ' + info.memory + ':' + info.cpus);
console.log('build key ' + (info.key ? 'present' : 'missing'));
// Appwrite's testScopes calls the API from the build; recorded here, reported by testScopes.
fetch(info.endpoint + '/functions', { headers: { 'x-appwrite-project': e.APPWRITE_FUNCTION_PROJECT_ID || '', 'x-appwrite-key': info.key }, signal: AbortSignal.timeout(3000) })
  .then((r) => 'HTTP ' + r.status, (err) => String(err.cause?.code || err.name))
  .then((api) => { info.api = api; console.log('build api call: ' + api); fs.writeFileSync('build-info.json', JSON.stringify(info)); });
`;

const INDEX_JS = `const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
${LIMITS_JS}
module.exports = async ({ req, res, log, error }) => {
  switch (req.path) {
    case '/binary-response':
      return res.binary(Buffer.from([0, 10, 255]));
    case '/binary-request':
      return res.json({ md5: crypto.createHash('md5').update(req.bodyBinary).digest('hex'), length: req.bodyBinary.length });
    case '/huge':
      // the runtime cuts a single log line at 8000 chars: 200 lines of 6000 = 1.2 M chars
      for (let i = 0; i < 200; i++) { log('L'.repeat(6000)); error('E'.repeat(6000)); }
      return res.text('huge');
    case '/sleep':
      await sleep(Number(req.query.ms || 5000));
      return res.text('slept');
    case '/api': {
      const r = await fetch(process.env.APPWRITE_FUNCTION_API_ENDPOINT + '/functions', {
        headers: { 'x-appwrite-project': process.env.APPWRITE_FUNCTION_PROJECT_ID, 'x-appwrite-key': req.headers['x-appwrite-key'] },
        signal: AbortSignal.timeout(3000),
      }).then((x) => 'HTTP ' + x.status, (err) => String(err.cause?.code || err.name));
      return res.json({ api: r, endpoint: process.env.APPWRITE_FUNCTION_API_ENDPOINT });
    }
    case '/build-info': {
      const file = path.join(__dirname, 'build-info.json');
      return res.json(fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : null);
    }
  }
  log('acceptance log line');
  error('acceptance error line');
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('APPWRITE_') || k.startsWith('ACC_')) env[k] = v;
  return res.json({ method: req.method, path: req.path, query: req.query, headers: req.headers, bodyText: req.bodyText, env, limits: limits() },
    Number(req.query.code || 200));
};
`;

function pack(name, files) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
  const out = join(work, `${name}.tar.gz`);
  execFileSync('tar', ['-czf', out, '-C', dir, '.']);
  return out;
}

// ---------------------------------------------------------------------------------------------
// helpers

async function raw(method, path, { headers = {}, body, json } = {}) {
  const res = await fetch(ENDPOINT + path, {
    method,
    headers: {
      'x-appwrite-project': PROJECT,
      'x-appwrite-key': KEY,
      ...(json !== undefined ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: json !== undefined ? JSON.stringify(json) : body,
  });
  const buf = Buffer.from(await res.arrayBuffer());
  let parsed;
  try {
    parsed = JSON.parse(buf.toString());
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, buf, text: buf.toString(), json: parsed };
}

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

async function waitDeployment(functionId, deploymentId, until = ['ready', 'failed', 'canceled']) {
  const deadline = Date.now() + BUILD_TIMEOUT_MS;
  let dep;
  while (Date.now() < deadline) {
    dep = await functions.getDeployment({ functionId, deploymentId });
    if (until.includes(dep.status)) return dep;
    await sleep(500);
  }
  throw new Error(`deployment ${deploymentId} still ${dep?.status}`);
}

async function waitExecution(functionId, executionId, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  let ex;
  while (Date.now() < deadline) {
    ex = await functions.getExecution({ functionId, executionId });
    if (['completed', 'failed'].includes(ex.status)) return ex;
    await sleep(250);
  }
  throw new Error(`execution ${executionId} still ${ex?.status}`);
}

async function createFunction(params) {
  const fn = await functions.create({ functionId: ID.unique(), entrypoint: 'index.js', commands: '', ...params });
  created.push(fn.$id);
  return fn;
}

/** Uploads `tarball`, waits for `ready` and for the activation. */
async function deploy(fn, tarball, params = {}) {
  const dep = await functions.createDeployment({
    functionId: fn.$id, code: InputFile.fromPath(tarball, 'code.tar.gz'), activate: true, ...params,
  });
  const done = await waitDeployment(fn.$id, dep.$id);
  assert.equal(done.status, 'ready', `build of ${fn.name}: ${done.buildLogs}`);
  for (let i = 0; i < 100; i++) {
    if ((await functions.get({ functionId: fn.$id })).deploymentId === dep.$id) return done;
    await sleep(200);
  }
  assert.fail(`deployment ${dep.$id} of ${fn.name} was not activated`);
}

/** PUT with every field of `fn` (PUT resets the omitted ones) plus `changes`. */
async function update(fn, changes) {
  const current = await functions.get({ functionId: fn.$id });
  return functions.update({
    functionId: fn.$id,
    name: current.name,
    runtime: current.runtime,
    execute: current.execute,
    events: current.events,
    schedule: current.schedule,
    timeout: current.timeout,
    enabled: current.enabled,
    logging: current.logging,
    entrypoint: current.entrypoint,
    commands: current.commands,
    scopes: current.scopes,
    buildSpecification: current.buildSpecification,
    runtimeSpecification: current.runtimeSpecification,
    deploymentRetention: current.deploymentRetention,
    ...changes,
  });
}

const header = (list, name) => list.find((h) => h.name.toLowerCase() === name)?.value;

async function run(fn, params = {}) {
  const ex = await functions.createExecution({ functionId: fn.$id, async: false, ...params });
  assert.equal(ex.status, 'completed', `${ex.responseStatusCode} ${ex.responseBody} ${ex.errors}`);
  return { ex, body: ex.responseBody ? JSON.parse(ex.responseBody) : null };
}

/** The parts of a multipart/form-data body as raw bytes, by name (the runtime's fetch would
 *  decode non-file parts as UTF-8 and lose the bytes). */
function multipartParts(buf, contentType) {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  assert.ok(boundary, `boundary in ${contentType}`);
  const parts = {};
  const delimiter = Buffer.from(`--${boundary}`);
  let at = buf.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (buf.subarray(start, start + 2).toString() === '--') break;
    const next = buf.indexOf(delimiter, start);
    assert.notEqual(next, -1, 'closing boundary');
    const part = buf.subarray(start + 2, next - 2); // CRLF after the boundary, CRLF before the next
    const headerEnd = part.indexOf('\r\n\r\n');
    const name = /name="([^"]+)"/.exec(part.subarray(0, headerEnd).toString())?.[1];
    parts[name] = part.subarray(headerEnd + 4);
    at = next;
  }
  return parts;
}

/** The function's domain: its proxy rule (created with the function). */
async function domainOf(fn) {
  const q = encodeURIComponent(JSON.stringify({ method: 'equal', attribute: 'deploymentResourceId', values: [fn.$id] }));
  const res = await raw('GET', `/proxy/rules?queries[]=${q}`);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.rules.length, 1, res.text);
  return res.json.rules[0].domain;
}

/** A plain HTTP request to the gateway's address with `Host: host` (a function domain). */
function domainRequest(host, path, { method = 'GET', headers = {}, body } = {}) {
  const gateway = new URL(ENDPOINT);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: gateway.hostname, port: gateway.port, method, path, headers: { ...headers, host } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function assertErrorPage(res, code, type) {
  const text = res.body.toString();
  assert.equal(res.status, code, text);
  assert.equal(JSON.parse(text).type, type, text);
}

/** A multipart createExecution body, the way the SDK would send a binary `body`. */
function multipartExecution(fields, bodyBytes) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, typeof v === 'string' ? v : JSON.stringify(v));
  form.append('body', new Blob([bodyBytes]), 'body');
  return form;
}

// ---------------------------------------------------------------------------------------------
// set-up

const MAIN = { name: 'Test acceptance main', runtime: 'node-20.0' };
let main; // Promise<{fn, deployment}>
let other; // Promise<{fn, deployment}>
let target; // function for the deployment rows (created, no deployment at first)
let smallTarball;
let custom; // Promise<[{runtime, fn}]>
let disabled;
let domainFn; // Promise<{fn, deployment}>: execute any, timeout 3 s (the domain rows)

// testCreateCustomExecution's data provider: every installed runtime answers `OK`.
const OK_NODE = { entrypoint: 'index.js', files: { 'index.js': "module.exports = async ({ res }) => res.text('OK');\n" } };
const OK_PYTHON = { entrypoint: 'main.py', files: { 'main.py': "def main(context):\n    return context.res.text('OK')\n" } };
const OK_PHP = { entrypoint: 'index.php', files: { 'index.php': "<?php\nreturn function ($context) { return $context->res->text('OK'); };\n" } };
const OK_RUBY = { entrypoint: 'index.rb', files: { 'index.rb': "def main(context)\n  context.res.text('OK')\nend\n" } };
const CUSTOM = {
  'node-18.0': OK_NODE, 'node-20.0': OK_NODE, 'python-3.11': OK_PYTHON, 'python-3.13': OK_PYTHON,
  'php-8.2': OK_PHP, 'php-8.4': OK_PHP, 'ruby-3.1': OK_RUBY, 'ruby-3.3': OK_RUBY,
};

before(async () => {
  assert.ok(KEY, 'E2E_KEY is set');
  smallTarball = pack('small', {
    'index.js': INDEX_JS,
    'build.js': BUILD_JS,
    'package.json': '{"name":"acceptance","version":"1.0.0"}\n',
  });
  // a project variable the main function must see (testCreateExecution)
  const pv = await raw('POST', '/project/variables', {
    json: { variableId: ID.unique(), key: 'ACC_PROJECT_VAR', value: 'project-value-42' },
  });
  assert.equal(pv.status, 201, pv.text);
  projectVariables.push(pv.json.$id);

  const mainFn = await createFunction({
    ...MAIN,
    commands: 'node build.js',
    timeout: 15,
    scopes: ['functions.read'],
    buildSpecification: 's-2vcpu-2gb',
    runtimeSpecification: 's-1vcpu-1gb',
  });
  const otherFn = await createFunction({ name: 'acceptance other', runtime: 'node-18.0', timeout: 3 });
  target = await createFunction({ name: 'acceptance deployments', runtime: 'node-18.0', commands: 'node build.js' });
  disabled = await createFunction({ name: 'acceptance disabled', runtime: 'node-18.0', enabled: false });
  main = deploy(mainFn, smallTarball).then(async (deployment) => ({ fn: await functions.get({ functionId: mainFn.$id }), deployment }));
  other = deploy(otherFn, smallTarball).then((deployment) => ({ fn: otherFn, deployment }));
  custom = Promise.all(Object.entries(CUSTOM).map(async ([runtime, c]) => {
    const fn = await createFunction({ name: `acceptance custom ${runtime}`, runtime, entrypoint: c.entrypoint });
    await deploy(fn, pack(`custom-${runtime}`, c.files));
    return { runtime, fn };
  }));
  const domainCreated = await createFunction({ name: 'acceptance domain', runtime: 'node-20.0', execute: ['any'], timeout: 3 });
  domainFn = deploy(domainCreated, smallTarball).then((deployment) => ({ fn: domainCreated, deployment }));
  for (const p of [main, other, custom, domainFn]) p.catch(() => {});
});

after(async () => {
  for (const functionId of created) await functions.delete({ functionId }).catch(() => {});
  for (const id of projectVariables) await raw('DELETE', `/project/variables/${id}`).catch(() => {});
  rmSync(work, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// the rows

describe('FunctionsCustomServerTest', () => {
  test('testListSpecs', async () => {
    const list = await functions.listSpecifications();
    assert.ok(list.total >= 2 && list.specifications.length >= 2, JSON.stringify(list));
    for (const s of list.specifications) {
      for (const k of ['memory', 'cpus', 'enabled', 'slug']) assert.ok(k in s, `${k} in ${JSON.stringify(s)}`);
    }
    const [a, b] = list.specifications.map((s) => s.slug);
    const fn = await createFunction({ name: 'specs', runtime: 'node-18.0', buildSpecification: a, runtimeSpecification: b });
    assert.equal(fn.buildSpecification, a);
    assert.equal(fn.runtimeSpecification, b);
    await rejectsWith(() => functions.create({ functionId: ID.unique(), name: 'x', runtime: 'node-18.0', buildSpecification: 's-0vcpu-0mb' }), 400);
    await rejectsWith(() => functions.create({ functionId: ID.unique(), name: 'x', runtime: 'node-18.0', runtimeSpecification: 'nope' }), 400);
  });

  test('testCreateFunction', async () => {
    const before = Date.now();
    const fn = await createFunction({
      name: 'Test create', runtime: 'node-20.0', events: ['users.*.create', 'users.*.delete'], timeout: 10,
    });
    assert.ok(fn.$id.length > 0);
    assert.equal(fn.name, 'Test create');
    assert.equal(fn.runtime, 'node-20.0'); // adapted: node-22 is not installed here
    for (const at of [fn.$createdAt, fn.$updatedAt]) {
      const t = Date.parse(at);
      assert.ok(Number.isFinite(t) && t >= before - 60_000 && t <= Date.now() + 60_000, at);
    }
    assert.equal(fn.deploymentId, '');
    assert.deepEqual(fn.events, ['users.*.create', 'users.*.delete']);
    assert.equal(fn.schedule, '');
    assert.equal(fn.timeout, 10);
  });

  test('testListFunctions', async () => {
    const { fn } = await main;
    const ids = (list) => list.functions.map((f) => f.$id);
    assert.ok(ids(await functions.list({ search: fn.$id })).includes(fn.$id), 'search by id');
    const byName = await functions.list({ search: 'Test' });
    assert.ok(ids(byName).includes(fn.$id), 'search by name');
    assert.ok(byName.functions.every((f) => /test/i.test(`${f.name} ${f.$id} ${f.runtime}`)), 'search by name matches only names with Test');
    const byRuntime = await functions.list({ search: 'node-20.0' });
    assert.ok(ids(byRuntime).includes(fn.$id), 'search by runtime');
    assert.ok(!ids(byRuntime).includes(target.$id), 'search by runtime excludes node-18.0 functions');

    const all = await functions.list({ queries: [Query.limit(100)] });
    assert.ok(all.total >= 4, `total ${all.total}`);
    const one = await functions.list({ queries: [Query.limit(1)] });
    assert.equal(one.functions.length, 1);
    assert.equal(one.total, all.total);
    const second = await functions.list({ queries: [Query.limit(1), Query.offset(1)] });
    assert.equal(second.functions.length, 1);
    assert.equal(second.functions[0].$id, all.functions[1].$id);

    const enabled = await functions.list({ queries: [Query.equal('enabled', [true]), Query.limit(100)] });
    assert.ok(ids(enabled).includes(fn.$id) && !ids(enabled).includes(disabled.$id));
    const off = await functions.list({ queries: [Query.equal('enabled', [false]), Query.limit(100)] });
    assert.ok(ids(off).includes(disabled.$id) && !ids(off).includes(fn.$id));
    assert.ok(off.functions.every((f) => f.enabled === false));

    const afterFirst = await functions.list({ queries: [Query.cursorAfter(all.functions[0].$id), Query.limit(1)] });
    assert.equal(afterFirst.functions[0].$id, all.functions[1].$id, 'cursorAfter');
    const beforeSecond = await functions.list({ queries: [Query.cursorBefore(all.functions[1].$id), Query.limit(1)] });
    assert.equal(beforeSecond.functions.length, 1, 'cursorBefore');
    assert.equal(beforeSecond.functions[0].$id, all.functions[0].$id, 'cursorBefore');
    const beforeFirst = await functions.list({ queries: [Query.cursorBefore(all.functions[0].$id)] });
    assert.equal(beforeFirst.functions.length, 0, 'nothing before the first');
    await rejectsWith(() => functions.list({ queries: [Query.cursorAfter('unknown')] }), 400, 'general_cursor_not_found');
  });

  test('testGetFunction', async () => {
    const { fn } = await main;
    const got = await functions.get({ functionId: fn.$id });
    assert.equal(got.$id, fn.$id);
    assert.equal(got.name, MAIN.name);
    await rejectsWith(() => functions.get({ functionId: 'unknown' }), 404, 'function_not_found');
  });

  test('testUpdateFunction', async () => {
    const fn = await createFunction({ name: 'Test update', runtime: 'node-18.0', timeout: 10 });
    const res = await raw('PUT', `/functions/${fn.$id}`, {
      json: { name: 'Test updated', runtime: 'node-18.0', events: ['users.*.update.name'], schedule: '0 0 1 1 *', timeout: 5 },
    });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.name, 'Test updated');
    assert.deepEqual(res.json.events, ['users.*.update.name']);
    assert.equal(res.json.schedule, '0 0 1 1 *');
    assert.equal(res.json.timeout, 5);
    const got = await functions.get({ functionId: fn.$id });
    assert.equal(got.name, 'Test updated');
    assert.equal(got.schedule, '0 0 1 1 *');
  });

  test('testCreateDeploymentFromCLI', async () => {
    const form = new FormData();
    form.append('entrypoint', 'index.js');
    form.append('activate', 'false');
    form.append('code', new Blob([readFileSync(smallTarball)]), 'code.tar.gz');
    const res = await raw('POST', `/functions/${target.$id}/deployments`, { headers: { 'x-sdk-language': 'cli' }, body: form });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.json.type, 'cli');
    const done = await waitDeployment(target.$id, res.json.$id);
    assert.equal(done.status, 'ready', done.buildLogs);
    assert.equal(done.type, 'cli');
  });

  test('testCreateDeploymentWithSingleContentRangeChunk', async () => {
    const bytes = readFileSync(smallTarball);
    const form = new FormData();
    form.append('entrypoint', 'index.js');
    form.append('activate', 'false');
    form.append('code', new Blob([bytes]), 'code.tar.gz');
    const res = await raw('POST', `/functions/${target.$id}/deployments`, {
      headers: { 'content-range': `bytes 0-${bytes.length - 1}/${bytes.length}` }, body: form,
    });
    assert.equal(res.status, 202, res.text);
    assert.equal(res.json.sourceSize, bytes.length);
    assert.equal((await waitDeployment(target.$id, res.json.$id)).status, 'ready');
  });

  test('testCreateDeployment', async () => {
    const fn = await createFunction({ name: 'Test deployments', runtime: 'node-18.0' });
    const first = await functions.createDeployment({
      functionId: fn.$id, code: InputFile.fromPath(smallTarball, 'code.tar.gz'), activate: true, entrypoint: 'index.js',
    });
    assert.equal(first.status, 'waiting');
    assert.equal(first.entrypoint, 'index.js');
    const second = await functions.createDeployment({
      functionId: fn.$id, code: InputFile.fromPath(smallTarball, 'code.tar.gz'), activate: false, entrypoint: 'index.js',
    });
    assert.equal((await waitDeployment(fn.$id, first.$id)).status, 'ready');
    assert.equal((await waitDeployment(fn.$id, second.$id)).status, 'ready');
    await sleep(1000);
    assert.equal((await functions.get({ functionId: fn.$id })).deploymentId, first.$id, 'the activated one');
  });

  test('testCreateDeploymentLarge', async () => {
    // ~12 MiB of random bytes: a 3-chunk upload, and a build output > 10 MiB
    const tarball = pack('large', { 'index.js': INDEX_JS, 'build.js': BUILD_JS, 'blob.bin': randomBytes(12 * 1024 * 1024) });
    const size = readFileSync(tarball).length;
    assert.ok(size > 2 * CHUNK, `${size}`);
    const dep = await functions.createDeployment({
      functionId: target.$id, code: InputFile.fromPath(tarball, 'code.tar.gz'), activate: false,
    });
    assert.equal(dep.sourceSize, size);
    const done = await waitDeployment(target.$id, dep.$id);
    assert.equal(done.status, 'ready', done.buildLogs);
    assert.equal(done.sourceSize, size);
    assert.ok(done.buildSize > 10 * 1024 * 1024, `buildSize ${done.buildSize}`);
  });

  /** Uploads an 11 MiB tarball chunk by chunk: the first chunk alone (the server picks the id),
   *  then the chunks of `order`; with `clientId`, every chunk of `order` carries that id from the
   *  start (no first request). */
  async function chunked(order, parallel, clientId) {
    const bytes = randomBytes(11 * 1024 * 1024); // incompressible content: 3 chunks
    const tarball = readFileSync(pack(`chunks-${order.join('')}-${parallel}`, { 'index.js': INDEX_JS, 'build.js': BUILD_JS, 'blob.bin': bytes }));
    const total = Math.ceil(tarball.length / CHUNK);
    assert.equal(total, 3);
    const send = (i, id) => {
      const start = i * CHUNK;
      const end = Math.min(start + CHUNK, tarball.length) - 1;
      const form = new FormData();
      form.append('entrypoint', 'index.js');
      form.append('activate', 'false');
      form.append('code', new Blob([tarball.subarray(start, end + 1)]), 'code.tar.gz');
      return raw('POST', `/functions/${target.$id}/deployments`, {
        headers: { 'content-range': `bytes ${start}-${end}/${tarball.length}`, ...(id ? { 'x-appwrite-id': id } : {}) },
        body: form,
      });
    };
    let id = clientId;
    if (!clientId) {
      const first = await send(0);
      assert.equal(first.status, 202, first.text);
      id = first.json.$id;
    }
    const rest = parallel
      ? await Promise.all(order.map((i) => send(i, id)))
      : await order.reduce(async (acc, i) => [...(await acc), await send(i, id)], Promise.resolve([]));
    for (const r of rest) {
      assert.equal(r.status, 202, r.text);
      assert.equal(r.json.$id, id);
    }
    const done = await waitDeployment(target.$id, id);
    assert.equal(done.status, 'ready', done.buildLogs);
    assert.equal(done.sourceSize, tarball.length);
  }

  test('testCreateDeploymentOutOfOrder', async () => {
    await chunked([2, 1], false);
    // the first bytes last, with a client-chosen id on every chunk
    await chunked([2, 1, 0], false, ID.unique());
  });

  test('testCreateDeploymentParallelChunksLargeFile', async () => {
    await chunked([1, 2], true);
    await chunked([0, 1, 2], true, ID.unique());
  });

  test('testCancelDeploymentBuild', async () => {
    const dep = await functions.createDeployment({
      functionId: target.$id, code: InputFile.fromPath(smallTarball, 'code.tar.gz'), activate: false,
      commands: 'echo cancel-me; sleep 120',
    });
    await waitDeployment(target.$id, dep.$id, ['building', 'ready', 'failed', 'canceled']);
    const canceled = await functions.updateDeploymentStatus({ functionId: target.$id, deploymentId: dep.$id });
    assert.equal(canceled.status, 'canceled');
    const got = await functions.getDeployment({ functionId: target.$id, deploymentId: dep.$id });
    assert.equal(got.status, 'canceled');
    assert.match(got.buildLogs, /Build has been canceled\./);
  });

  test('testUpdateDeployment', async () => {
    const { fn } = await main;
    const dep = await functions.createDeployment({
      functionId: fn.$id, code: InputFile.fromPath(smallTarball, 'code.tar.gz'), activate: false,
    });
    assert.equal((await waitDeployment(fn.$id, dep.$id)).status, 'ready');
    const previous = (await functions.get({ functionId: fn.$id })).deploymentId;
    assert.notEqual(previous, dep.$id);
    const res = await raw('PATCH', `/functions/${fn.$id}/deployment`, { json: { deploymentId: dep.$id } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.deploymentId, dep.$id);
    // back to the first one (the other rows use main's deployment id)
    const back = await functions.updateFunctionDeployment({ functionId: fn.$id, deploymentId: previous });
    assert.equal(back.deploymentId, previous);
  });

  test('testListDeployments', async () => {
    const list = await functions.listDeployments({ functionId: target.$id });
    assert.ok(list.total >= 5, `total ${list.total}`);
    assert.equal(list.deployments.length, list.total);
    for (const d of list.deployments) {
      assert.equal(typeof d.sourceSize, 'number');
      assert.equal(typeof d.buildSize, 'number');
    }
    const selected = await functions.listDeployments({ functionId: target.$id, queries: [Query.select(['status'])] });
    assert.ok(selected.deployments.length > 0);
    for (const d of selected.deployments) {
      assert.ok(typeof d.status === 'string' && d.status.length > 0, JSON.stringify(d));
      assert.ok(!('sourceSize' in d), `select(['status']) omits sourceSize: ${JSON.stringify(d)}`);
    }
    const big = await functions.listDeployments({ functionId: target.$id, queries: [Query.greaterThan('sourceSize', 10 * 1024 * 1024)] });
    assert.ok(big.total >= 3 && big.deployments.every((d) => d.sourceSize > 10 * 1024 * 1024), JSON.stringify(big.deployments.map((d) => d.sourceSize)));
    const small = await functions.listDeployments({ functionId: target.$id, queries: [Query.lessThan('sourceSize', 10 * 1024 * 1024)] });
    assert.ok(small.total >= 2 && small.total + big.total === list.total);
    const ready = await functions.listDeployments({ functionId: target.$id, queries: [Query.equal('status', ['ready'])] });
    assert.ok(ready.total >= 5 && ready.deployments.every((d) => d.status === 'ready'));
    const canceled = await functions.listDeployments({ functionId: target.$id, queries: [Query.equal('status', ['canceled'])] });
    assert.equal(canceled.total, 1);
  });

  test('testGetDeployment', async () => {
    const { fn, deployment } = await main;
    const dep = await functions.getDeployment({ functionId: fn.$id, deploymentId: deployment.$id });
    assert.ok(dep.buildDuration > 0, `buildDuration ${dep.buildDuration}`);
    assert.equal(dep.status, 'ready');
    assert.ok(dep.buildLogs.length > 0);
    await rejectsWith(() => functions.getDeployment({ functionId: fn.$id, deploymentId: 'unknown' }), 404, 'deployment_not_found');
  });

  test('testCreateExecution', async () => {
    const { fn, deployment } = await main;
    const { ex, body } = await run(fn);
    assert.equal(header(ex.responseHeaders, 'x-appwrite-execution-id'), ex.$id);
    assert.equal(ex.responseStatusCode, 200);
    assert.equal(body.env.APPWRITE_FUNCTION_ID, fn.$id);
    assert.equal(body.env.APPWRITE_FUNCTION_DEPLOYMENT, deployment.$id);
    assert.equal(body.env.APPWRITE_FUNCTION_NAME, MAIN.name);
    assert.equal(body.headers['x-appwrite-trigger'], 'http');
    assert.equal(body.env.APPWRITE_FUNCTION_RUNTIME_NAME, 'Node.js');
    assert.equal(body.env.APPWRITE_FUNCTION_RUNTIME_VERSION, '20.0'); // adapted: node-20.0, not 22
    assert.equal(body.env.ACC_PROJECT_VAR, 'project-value-42');
    assert.match(ex.logs, /acceptance log line/);
    assert.match(ex.errors, /acceptance error line/);

    const head = await functions.createExecution({ functionId: fn.$id, async: false, method: ExecutionMethod.HEAD });
    assert.equal(head.status, 'completed');
    assert.equal(head.responseBody, '');

    const code = await functions.createExecution({ functionId: fn.$id, async: false, xpath: '/?code=400' });
    assert.equal(code.status, 'completed');
    assert.equal(code.responseStatusCode, 400);
  });

  test('testListExecutions', async () => {
    const { fn } = await main;
    const list = await functions.listExecutions({ functionId: fn.$id });
    assert.ok(list.total >= 3 && list.executions.length === Math.min(list.total, 25), `total ${list.total}`);
    const noTotal = await functions.listExecutions({ functionId: fn.$id, total: false });
    assert.equal(noTotal.total, 0);
    assert.ok(noTotal.executions.length > 0);
    const http = await functions.listExecutions({ functionId: fn.$id, queries: [Query.equal('trigger', ['http'])] });
    assert.equal(http.total, list.total);
    const c400 = await functions.listExecutions({ functionId: fn.$id, queries: [Query.equal('responseStatusCode', [400])] });
    assert.ok(c400.total >= 1 && c400.executions.every((e) => e.responseStatusCode === 400));
    const heads = await functions.listExecutions({ functionId: fn.$id, queries: [Query.equal('requestMethod', ['HEAD'])] });
    assert.ok(heads.total >= 1 && heads.executions.every((e) => e.requestMethod === 'HEAD'));
    const limited = await functions.listExecutions({ functionId: fn.$id, queries: [Query.limit(1), Query.offset(1)] });
    assert.equal(limited.executions.length, 1);
    assert.equal(limited.executions[0].$id, list.executions[1].$id);
  });

  test('testSyncCreateExecution', async () => {
    const { fn } = await main;
    const { ex, body } = await run(fn, { body: 'hello sync', method: ExecutionMethod.POST, xpath: '/sync' });
    assert.equal(ex.responseStatusCode, 200);
    assert.equal(ex.trigger, 'http');
    assert.equal(body.bodyText, 'hello sync');
    assert.equal(body.path, '/sync');
    assert.equal(body.env.APPWRITE_FUNCTION_NAME, MAIN.name);
    assert.equal(body.headers['x-appwrite-trigger'], 'http');
    assert.equal(body.env.APPWRITE_FUNCTION_RUNTIME_NAME, 'Node.js');
  });

  test('testGetExecution', async () => {
    const { fn, deployment } = await main;
    const { ex } = await run(fn);
    const got = await functions.getExecution({ functionId: fn.$id, executionId: ex.$id });
    assert.equal(got.$id, ex.$id);
    assert.equal(got.functionId, fn.$id);
    assert.equal(got.deploymentId, deployment.$id);
    await rejectsWith(() => functions.getExecution({ functionId: fn.$id, executionId: 'unknown' }), 404, 'execution_not_found');
  });

  test('testDeleteExecution', async () => {
    const { fn } = await main;
    const { ex } = await run(fn);
    const del = await raw('DELETE', `/functions/${fn.$id}/executions/${ex.$id}`);
    assert.equal(del.status, 204);
    assert.equal(del.buf.length, 0);
    const err = await rejectsWith(() => functions.getExecution({ functionId: fn.$id, executionId: ex.$id }), 404, 'execution_not_found');
    assert.equal(err.message, 'Execution with the requested ID could not be found.');
    const running = await functions.createExecution({ functionId: fn.$id, async: true, xpath: '/sleep?ms=6000' });
    await rejectsWith(() => functions.deleteExecution({ functionId: fn.$id, executionId: running.$id }), 400, 'execution_in_progress');
    assert.equal((await waitExecution(fn.$id, running.$id)).status, 'completed');
  });

  test('testUpdateSpecs', async () => {
    const { fn } = await other;
    await update(fn, { runtimeSpecification: 's-1vcpu-1gb' });
    let { ex, body } = await run(fn);
    assert.equal(body.env.APPWRITE_FUNCTION_CPUS, '1');
    assert.equal(body.env.APPWRITE_FUNCTION_MEMORY, '1024');
    assert.deepEqual(body.limits, { memory: 1024 * MiB, cpus: 1 });
    assert.equal(body.headers['x-appwrite-execution-id'], ex.$id);
    assert.equal(body.headers['x-appwrite-client-ip'], '127.0.0.1'); // the test's own address
    await update(fn, { runtimeSpecification: 's-1vcpu-512mb' });
    ({ body } = await run(fn));
    assert.equal(body.env.APPWRITE_FUNCTION_CPUS, '1');
    assert.equal(body.env.APPWRITE_FUNCTION_MEMORY, '512');
    assert.deepEqual(body.limits, { memory: 512 * MiB, cpus: 1 }, 'a new container with the new limits');
    await rejectsWith(() => update(fn, { runtimeSpecification: 's-2vcpu-nope' }), 400);
  });

  test('testExecutionTimeout', async () => {
    const { fn } = await other; // timeout 3 s
    const ex = await functions.createExecution({ functionId: fn.$id, async: true, xpath: '/sleep?ms=8000' });
    const done = await waitExecution(fn.$id, ex.$id);
    assert.equal(done.status, 'failed');
    assert.equal(done.responseStatusCode, 500);
    assert.equal(done.responseBody, '');
    assert.equal(done.logs, '');
    assert.match(done.errors, /timed out/);
  });

  test('testCreateCustomExecution', async () => {
    for (const { runtime, fn } of await custom) {
      const ex = await functions.createExecution({ functionId: fn.$id, async: false });
      assert.equal(ex.status, 'completed', `${runtime}: ${ex.errors}`);
      assert.equal(ex.responseStatusCode, 200, runtime);
      assert.equal(ex.responseBody, 'OK', runtime);
      const list = await functions.listExecutions({ functionId: fn.$id });
      assert.equal(list.total, 1, runtime);
      assert.equal(list.executions[0].trigger, 'http', runtime);
      assert.equal(list.executions[0].responseBody, '', `${runtime}: the stored body is empty`);
    }
  });

  test('testCreateCustomExecutionBinaryResponse', async () => {
    const { fn } = await main;
    const res = await raw('POST', `/functions/${fn.$id}/executions`, {
      headers: { accept: 'multipart/form-data' }, json: { path: '/binary-response', async: false },
    });
    assert.equal(res.status, 201, res.text);
    assert.match(res.headers.get('content-type'), /^multipart\/form-data/);
    const parts = multipartParts(res.buf, res.headers.get('content-type'));
    assert.ok(parts.responseBody, `parts: ${Object.keys(parts)}`);
    assert.deepEqual([...parts.responseBody], [0, 10, 255]);
    assert.equal(parts.responseStatusCode.toString(), '200');
    assert.equal(parts.status.toString(), 'completed');
    const asJson = await raw('POST', `/functions/${fn.$id}/executions`, {
      headers: { accept: 'application/json' }, json: { path: '/binary-response', async: false },
    });
    assert.equal(asJson.status, 400, asJson.text);
    assert.match(asJson.json.message, /Failed to parse response/);
  });

  test('testCreateCustomExecutionBinaryRequest', async () => {
    const { fn } = await main;
    const bytes = Buffer.from([0, 1, 2, 128, 200, 255, 10, 13]);
    const md5 = createHash('md5').update(bytes).digest('hex');
    const res = await raw('POST', `/functions/${fn.$id}/executions`, {
      body: multipartExecution({ path: '/binary-request', method: 'POST', async: 'false' }, bytes),
    });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(JSON.parse(res.json.responseBody), { md5, length: bytes.length });
    // the same bytes sent as a JSON string do not arrive byte-exact
    const viaJson = await raw('POST', `/functions/${fn.$id}/executions`, {
      json: { path: '/binary-request', method: 'POST', async: false, body: bytes.toString('latin1') },
    });
    assert.equal(viaJson.status, 201, viaJson.text);
    assert.notEqual(JSON.parse(viaJson.json.responseBody).md5, md5);
  });

  test('testGetRuntimes', async () => {
    const list = await functions.listRuntimes();
    assert.ok(list.total >= 2 && list.runtimes.length === list.total);
    for (const r of list.runtimes) {
      for (const k of ['$id', 'name', 'key', 'version', 'logo', 'image', 'base', 'supports']) assert.ok(k in r, `${k} in ${JSON.stringify(r)}`);
    }
    const node = list.runtimes.find((r) => r.$id === 'node-20.0');
    assert.ok(node, 'node-20.0 is listed');
    assert.equal(node.name, 'Node.js');
    assert.equal(node.version, '20.0');
  });

  test('testEventTrigger', async () => {
    // adapted: no users service; the users.<id>.create event is published on RabbitMQ
    const fn = await createFunction({ name: 'acceptance event', runtime: 'node-18.0', events: ['users.*.create'] });
    await deploy(fn, pack('event', {
      'index.js': `module.exports = async ({ req, res, log }) => {
  log(req.body.$id); log(req.body.name);
  log('client-ip=[' + (req.headers['x-appwrite-client-ip'] ?? '') + ']');
  return res.empty();
};
`,
    }));
    const userId = `u${Date.now()}`;
    const event = `users.${userId}.create`;
    const connection = await amqp.connect(AMQP_URL);
    try {
      const channel = await connection.createConfirmChannel();
      await new Promise((resolve, reject) => channel.publish('fnplat.events', event, Buffer.from(JSON.stringify({
        id: `acc-${userId}`, event, projectId: PROJECT, payload: { $id: userId, name: 'Ada Acceptance' },
      })), { contentType: 'application/json', persistent: true }, (err) => (err ? reject(err) : resolve())));
    } finally {
      await connection.close();
    }
    const deadline = Date.now() + 90_000;
    let list;
    do {
      await sleep(500);
      list = await functions.listExecutions({ functionId: fn.$id });
    } while (!list.executions.some((e) => ['completed', 'failed'].includes(e.status)) && Date.now() < deadline);
    assert.equal(list.total, 1, JSON.stringify(list.executions));
    const ex = list.executions[0];
    assert.equal(ex.trigger, 'event');
    assert.equal(ex.status, 'completed', ex.errors);
    assert.equal(ex.responseStatusCode, 204);
    assert.match(ex.logs, new RegExp(userId));
    assert.match(ex.logs, /Ada Acceptance/);
    assert.match(ex.logs, /client-ip=\[\]/);
  });

  test('testScopes', async (t) => {
    // adapted: the function has functions.read (no users service); the sandbox has no route to
    // the gateway, so the test calls the API with the keys the build and the execution were given.
    const { fn } = await main;
    const build = (await run(fn, { xpath: '/build-info' })).body;
    assert.ok(build.key.length > 0, 'the build got APPWRITE_FUNCTION_API_KEY');
    const exec = (await run(fn)).body.headers['x-appwrite-key'];
    assert.ok(exec, 'the execution got x-appwrite-key');
    for (const key of [build.key, exec]) {
      const res = await fetch(`${ENDPOINT}/functions`, { headers: { 'x-appwrite-project': PROJECT, 'x-appwrite-key': key } });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.match(text, /"total":/);
      const denied = await fetch(`${ENDPOINT}/functions/${fn.$id}/executions`, { headers: { 'x-appwrite-project': PROJECT, 'x-appwrite-key': key } });
      assert.equal(denied.status, 401, 'execution.read is not among the scopes');
    }
    const ex = await functions.createExecution({ functionId: fn.$id, async: true });
    assert.equal((await waitExecution(fn.$id, ex.$id)).status, 'completed');
    // what Appwrite's row really does (an API call from inside): reported, not asserted (see above)
    const inside = (await run(fn, { xpath: '/api' })).body;
    t.diagnostic(`API call from the build: ${build.api}; from the execution: ${inside.api} (endpoint ${inside.endpoint})`);
  });

  test('testCookieExecution', async () => {
    const { fn } = await main;
    const cookie = 'cookieName=cookieValue; cookie2=value2; cookie3=value=3';
    const { body } = await run(fn, { headers: { cookie } });
    assert.equal(body.headers.cookie, cookie);
  });

  test('testFunctionLogging', async () => {
    const { fn } = await other;
    await update(fn, { logging: false });
    try {
      const { ex } = await run(fn);
      assert.equal(ex.logs, '');
      assert.equal(ex.errors, '');
      const asyncEx = await functions.createExecution({ functionId: fn.$id, async: true });
      const done = await waitExecution(fn.$id, asyncEx.$id);
      assert.equal(done.status, 'completed');
      assert.equal(done.logs, '');
      assert.equal(done.errors, '');
    } finally {
      await update(fn, { logging: true });
    }
    const { ex } = await run(fn);
    assert.match(ex.logs, /acceptance log line/, 'logging back on');
  });

  test('testFunctionSpecifications', async () => {
    const { fn, deployment } = await main;
    assert.match(deployment.buildLogs, /build spec 2048:2/);
    const build = (await run(fn, { xpath: '/build-info' })).body;
    assert.equal(`${build.memory}:${build.cpus}`, '2048:2');
    assert.deepEqual(build.limits, { memory: 2048 * MiB, cpus: 2 }, 'the build container has the build spec limits');
    const { body } = await run(fn);
    assert.equal(body.env.APPWRITE_FUNCTION_MEMORY, '1024');
    assert.equal(body.env.APPWRITE_FUNCTION_CPUS, '1');
    assert.deepEqual(body.limits, { memory: 1024 * MiB, cpus: 1 }, 'the runtime container has the runtime spec limits');
  });

  test('testDuplicateDeployment', async () => {
    const { fn, deployment } = await main;
    await update(fn, { commands: 'node build.js && echo duplicated-with-new-commands' });
    try {
      const dup = await functions.createDuplicateDeployment({ functionId: fn.$id, deploymentId: deployment.$id });
      assert.notEqual(dup.$id, deployment.$id);
      assert.equal(dup.buildSize, 0);
      assert.equal(dup.totalSize, dup.sourceSize);
      const done = await waitDeployment(fn.$id, dup.$id);
      assert.equal(done.status, 'ready', done.buildLogs);
      assert.match(done.buildLogs, /duplicated-with-new-commands/);
      let active;
      for (let i = 0; i < 50 && active !== dup.$id; i++) {
        active = (await functions.get({ functionId: fn.$id })).deploymentId;
        if (active !== dup.$id) await sleep(200);
      }
      assert.equal(active, dup.$id, 'the duplicate becomes active');
    } finally {
      await update(fn, { commands: 'node build.js' });
    }
  });

  test('testUpdateDeploymentStatus', async () => {
    const fn = await createFunction({ name: 'acceptance latest', runtime: 'node-18.0' });
    assert.equal(fn.latestDeploymentId, '');
    assert.equal(fn.latestDeploymentCreatedAt, '');
    assert.equal(fn.latestDeploymentStatus, '');
    const dep = await deploy(fn, smallTarball);
    const got = await functions.get({ functionId: fn.$id });
    assert.equal(got.latestDeploymentId, dep.$id);
    assert.equal(got.latestDeploymentCreatedAt, dep.$createdAt);
    assert.equal(got.latestDeploymentStatus, 'ready');
  });

  test('testLogAndErrorTruncation', async () => {
    const { fn } = await main;
    const ex = await functions.createExecution({ functionId: fn.$id, async: false, xpath: '/huge' });
    assert.equal(ex.status, 'completed', ex.errors.slice(0, 300));
    for (const [text, warning] of [[ex.logs, '[WARNING] Logs truncated'], [ex.errors, '[WARNING] Errors truncated']]) {
      assert.ok(text.length <= 1_000_000, `${text.length}`);
      assert.ok(text.startsWith(warning), text.slice(0, 100));
    }
    const stored = await functions.getExecution({ functionId: fn.$id, executionId: ex.$id });
    assert.ok(stored.logs.startsWith('[WARNING] Logs truncated') && stored.logs.length <= 1_000_000);
  });

  test('testFunctionDeploymentRetention', async () => {
    const fn = await createFunction({ name: 'acceptance retention', runtime: 'node-18.0' });
    assert.equal(fn.deploymentRetention, 0);
    const withRetention = await createFunction({ name: 'acceptance retention 180', runtime: 'node-18.0', deploymentRetention: 180 });
    assert.equal(withRetention.deploymentRetention, 180);
    assert.equal((await update(fn, { deploymentRetention: 180 })).deploymentRetention, 180);
    assert.equal((await functions.get({ functionId: fn.$id })).deploymentRetention, 180);
    await rejectsWith(() => update(fn, { deploymentRetention: 36501 }), 400);
    await rejectsWith(() => update(fn, { deploymentRetention: -1 }), 400);
    await rejectsWith(() => functions.create({ functionId: ID.unique(), name: 'x', runtime: 'node-18.0', deploymentRetention: 99999 }), 400);
  });

  test('testResponseFilters', async () => {
    const fn = await functions.get({ functionId: (await main).fn.$id });
    const old = (format) => raw('GET', `/functions/${fn.$id}`, { headers: { 'x-appwrite-response-format': format } });
    const v18 = await old('1.8.0');
    assert.equal(v18.status, 200);
    assert.equal(v18.json.specification, 's-2vcpu-2gb');
    assert.ok(!('buildSpecification' in v18.json) && !('runtimeSpecification' in v18.json));
    assert.ok('scopes' in v18.json);
    const v15 = await old('1.5.0');
    assert.ok(!('scopes' in v15.json) && !('specification' in v15.json), v15.text);
    assert.equal(v15.json.deployment, fn.deploymentId);
    assert.ok(!('deploymentId' in v15.json));
    const current = await old('1.9.5');
    assert.equal(current.json.buildSpecification, 's-2vcpu-2gb');
    assert.deepEqual(current.json.scopes, ['functions.read']);
    // executions: a completed 4xx is `failed` below 1.6; the 1.3 field names
    const [c400] = (await functions.listExecutions({ functionId: fn.$id, queries: [Query.equal('responseStatusCode', [400])] })).executions;
    assert.ok(c400, 'testCreateExecution left a 400 execution');
    const ex15 = await raw('GET', `/functions/${fn.$id}/executions/${c400.$id}`, { headers: { 'x-appwrite-response-format': '1.5.0' } });
    assert.equal(ex15.json.status, 'failed', ex15.text);
    assert.equal((await raw('GET', `/functions/${fn.$id}/executions/${c400.$id}`)).json.status, 'completed');
    const ex13 = await raw('GET', `/functions/${fn.$id}/executions/${c400.$id}`, { headers: { 'x-appwrite-response-format': '1.3.0' } });
    assert.equal(ex13.json.statusCode, 400, ex13.text);
    for (const k of ['response', 'stdout', 'stderr']) assert.equal(typeof ex13.json[k], 'string', `${k}: ${ex13.text}`);
    assert.ok(!('responseStatusCode' in ex13.json) && !('logs' in ex13.json));
  });

  test('testRequestFilters', async () => {
    const fn = await functions.get({ functionId: (await main).fn.$id });
    // format 1.6: query attribute `deployment` (now deploymentId)
    const q = encodeURIComponent(JSON.stringify({ method: 'equal', attribute: 'deployment', values: [fn.deploymentId] }));
    const res = await raw('GET', `/functions?queries[]=${q}`, { headers: { 'x-appwrite-response-format': '1.6.0' } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json.functions.map((f) => f.$id), [fn.$id]);
    // format 1.6: deployments `size` (now sourceSize)
    const big = encodeURIComponent(JSON.stringify({ method: 'greaterThan', attribute: 'size', values: [10 * MiB] }));
    const deps = await raw('GET', `/functions/${target.$id}/deployments?queries[]=${big}`, { headers: { 'x-appwrite-response-format': '1.6.0' } });
    assert.equal(deps.status, 200, deps.text);
    assert.ok(deps.json.deployments.length >= 3 && deps.json.deployments.every((d) => d.size > 10 * MiB), deps.text.slice(0, 300));
    // format 1.4 (before 1.5 SDKs sent queries as strings): equal("deployment", ["<id>"])
    const legacy = encodeURIComponent(`equal("deployment", ["${fn.deploymentId}"])`);
    const old14 = await raw('GET', `/functions?queries[]=${legacy}`, { headers: { 'x-appwrite-response-format': '1.4.0' } });
    assert.equal(old14.status, 200, old14.text);
    assert.deepEqual(old14.json.functions.map((f) => f.$id), [fn.$id]);
    // format 1.8: `specification` on create sets the build and runtime specification
    const created8 = await raw('POST', '/functions', {
      headers: { 'x-appwrite-response-format': '1.8.0' },
      json: { functionId: ID.unique(), name: 'acceptance old spec', runtime: 'node-18.0', specification: 's-1vcpu-1gb' },
    });
    assert.equal(created8.status, 201, created8.text);
    created.push(created8.json.$id);
    const now = await functions.get({ functionId: created8.json.$id });
    assert.equal(now.buildSpecification, 's-1vcpu-1gb');
    assert.equal(now.runtimeSpecification, 's-1vcpu-1gb');
  });

  // Appwrite serves its error pages as HTML; this gateway answers the same status codes with the
  // Appwrite JSON error body (chosen by the domains work, tests/e2e/domains.test.mjs).
  test('testFunctionsDomain', async () => {
    const { fn } = await domainFn;
    const domain = await domainOf(fn);
    const cookie = 'cookieName=cookieValue; cookie2=value2';
    const res = await domainRequest(domain, '/echo?a=1', { headers: { cookie } });
    assert.equal(res.status, 200, res.body.toString());
    const body = JSON.parse(res.body.toString());
    assert.equal(body.headers.cookie, cookie);
    assert.equal(body.path, '/echo');
    assert.deepEqual(body.query, { a: '1' });
    const executionId = res.headers['x-appwrite-execution-id'];
    assert.ok(executionId, JSON.stringify(res.headers));
    const ex = await functions.getExecution({ functionId: fn.$id, executionId });
    assert.equal(ex.trigger, 'http');
    assert.equal(ex.requestPath, '/echo?a=1');

    const bytes = Buffer.from([0, 1, 2, 128, 200, 255]);
    const binReq = await domainRequest(domain, '/binary-request', {
      method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes,
    });
    assert.equal(binReq.status, 200, binReq.body.toString());
    assert.deepEqual(JSON.parse(binReq.body.toString()), { md5: createHash('md5').update(bytes).digest('hex'), length: bytes.length });
    const binRes = await domainRequest(domain, '/binary-response');
    assert.equal(binRes.status, 200);
    assert.deepEqual([...binRes.body], [0, 10, 255]);
  });

  test('testErrorPages', async () => {
    const { fn } = await main; // execute: [] => no guest may run it through its domain
    assertErrorPage(await domainRequest(await domainOf(fn), '/'), 401, 'function_execute_permission_missing');
    const domain = await domainOf((await domainFn).fn);
    const parent = domain.slice(domain.indexOf('.') + 1);
    assertErrorPage(await domainRequest(`nobody-${Date.now()}.${parent}`, '/'), 404, 'router_host_not_found');
    const undeployed = await createFunction({ name: 'acceptance domain undeployed', runtime: 'node-18.0', execute: ['any'] });
    assertErrorPage(await domainRequest(await domainOf(undeployed), '/'), 404, 'deployment_not_found');
    const slow = await domainRequest(domain, '/sleep?ms=6000'); // function timeout 3 s
    assert.equal(slow.status, 504, slow.body.toString());
  });

  test('testDeleteDeployment', async () => {
    const dep = await functions.createDeployment({
      functionId: target.$id, code: InputFile.fromPath(smallTarball, 'code.tar.gz'), activate: false,
    });
    await waitDeployment(target.$id, dep.$id);
    const res = await raw('DELETE', `/functions/${target.$id}/deployments/${dep.$id}`);
    assert.equal(res.status, 204, res.text);
    assert.equal(res.buf.length, 0);
    await rejectsWith(() => functions.getDeployment({ functionId: target.$id, deploymentId: dep.$id }), 404, 'deployment_not_found');
  });

  test('testDeleteFunction', async () => {
    const fn = await createFunction({ name: 'acceptance delete', runtime: 'node-18.0' });
    const res = await raw('DELETE', `/functions/${fn.$id}`);
    assert.equal(res.status, 204, res.text);
    assert.equal(res.buf.length, 0);
    await rejectsWith(() => functions.get({ functionId: fn.$id }), 404, 'function_not_found');
  });
});
