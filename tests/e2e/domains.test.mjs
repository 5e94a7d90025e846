// End-to-end: function domains. Every function gets the proxy rule `<functionId>.<functions
// domain>`; a plain HTTP request to the gateway with that Host runs the function with the real
// request (method, path+query, headers, raw body) and answers with the function's raw response
// plus `x-appwrite-execution-id`. Errors are Appwrite's error pages as JSON bodies.
//
// Env: E2E_ENDPOINT, E2E_PROJECT, E2E_KEY (scripts/stack.sh env e2e). Domain requests go to the
// gateway's own address (127.0.0.1) with a Host header, through node:http (fetch may not send a
// Host of our choosing).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Functions, ID, Proxy, Query } from 'node-appwrite';
import { InputFile } from 'node-appwrite/file';

const ENDPOINT = process.env.E2E_ENDPOINT;
const PROJECT = process.env.E2E_PROJECT;
const KEY = process.env.E2E_KEY;
if (!ENDPOINT || !PROJECT || !KEY) throw new Error('E2E_ENDPOINT, E2E_PROJECT and E2E_KEY must be set');
const HERE = dirname(fileURLToPath(import.meta.url));
const HELLO = resolve(HERE, '../fixtures/node-hello');
const CONTEXT = resolve(HERE, '../fixtures/node-context');
const BUILD_TIMEOUT_MS = 5 * 60_000;
const gateway = new URL(ENDPOINT);

const client = new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setKey(KEY);
const functions = new Functions(client);
const proxy = new Proxy(client);
const work = mkdtempSync(join(tmpdir(), 'fnplat-domains-'));
const created = [];
let functionsDomain;
let hello; // node-hello, execute any, timeout 3 s
let context; // node-context, execute guests
let privateFn; // execute users only, never deployed

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function pack(dir, name) {
  const out = join(work, name);
  execFileSync('tar', ['--exclude=./node_modules', '-czf', out, '-C', dir, '.']);
  return out;
}

async function deploy(fn, dir) {
  const dep = await functions.createDeployment({
    functionId: fn.$id,
    code: InputFile.fromPath(pack(dir, `${fn.$id}.tar.gz`), 'code.tar.gz'),
    activate: true,
  });
  const deadline = Date.now() + BUILD_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const fresh = await functions.get({ functionId: fn.$id });
    const d = await functions.getDeployment({ functionId: fn.$id, deploymentId: dep.$id });
    if (d.status === 'failed') throw new Error(`build failed: ${d.buildLogs}`);
    if (d.status === 'ready' && fresh.deploymentId === dep.$id) return;
    await sleep(1000);
  }
  throw new Error(`deployment of ${fn.$id} not ready in time`);
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

/** A plain HTTP request to the gateway as `host`; resolves {status, headers, body: Buffer}. */
function domainRequest(host, path, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolvePromise, reject) => {
    const req = http.request(
      {
        host: gateway.hostname,
        port: gateway.port,
        method,
        path,
        headers: { host, ...headers },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolvePromise({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function assertErrorPage(res, code, type) {
  const text = res.body.toString('utf8');
  assert.equal(res.status, code, text);
  const json = JSON.parse(text);
  assert.equal(json.code, code, text);
  assert.equal(json.type, type, text);
  assert.equal(typeof json.message, 'string');
  assert.equal(typeof json.version, 'string');
}

const domainOf = (fn) => `${fn.$id.toLowerCase()}.${functionsDomain}`;

before(async () => {
  const vars = await fetch(`${ENDPOINT}/console/variables`, {
    headers: { 'x-appwrite-project': PROJECT, 'x-appwrite-key': KEY },
  });
  assert.equal(vars.status, 200);
  functionsDomain = (await vars.json())._APP_DOMAIN_FUNCTIONS;
  assert.ok(functionsDomain, 'console variables name the functions domain');
  [hello, context, privateFn] = await Promise.all([
    createFunction({ name: 'domains hello', execute: ['any'], timeout: 3 }),
    createFunction({ name: 'domains context', execute: ['guests'], commands: '' }),
    createFunction({ name: 'domains private', execute: ['users'] }),
  ]);
  await Promise.all([deploy(hello, HELLO), deploy(context, CONTEXT)]);
});

after(async () => {
  for (const functionId of created) {
    await functions.delete({ functionId }).catch(() => {});
  }
  rmSync(work, { recursive: true, force: true });
});

test('every function has a manual proxy rule on its own domain (the CLI query finds it)', async () => {
  const rules = await proxy.listRules({
    queries: [
      Query.limit(1),
      Query.equal('deploymentResourceType', 'function'),
      Query.equal('deploymentResourceId', hello.$id),
      Query.equal('trigger', 'manual'),
    ],
  });
  assert.equal(rules.total, 1);
  const rule = rules.rules[0];
  assert.equal(rule.domain, domainOf(hello));
  assert.equal(rule.type, 'deployment');
  assert.equal(rule.deploymentResourceType, 'function');
  assert.equal(rule.deploymentResourceId, hello.$id);
  assert.equal(rule.status, 'verified');
  assert.equal(rule.$id.length, 32);
});

test('a request to the domain runs the function with the request: method, path, query, headers, cookies, body', async () => {
  const res = await domainRequest(domainOf(hello), '/echo/me?a=1&b=two', {
    method: 'POST',
    headers: { cookie: 'c1=v1; c2=v2', 'x-custom': 'yes', 'content-type': 'text/plain' },
    body: 'hello domain',
  });
  const text = res.body.toString('utf8');
  assert.equal(res.status, 200, text);
  assert.equal(res.headers['x-node-hello'], 'yes');
  assert.match(res.headers['content-type'], /^application\/json/);
  const executionId = res.headers['x-appwrite-execution-id'];
  assert.ok(executionId, 'x-appwrite-execution-id header');
  assert.ok(!Object.keys(res.headers).some((h) => h.startsWith('x-open-runtimes-')));
  const echo = JSON.parse(text);
  assert.equal(echo.method, 'POST');
  assert.equal(echo.path, '/echo/me');
  assert.equal(echo.queryString, 'a=1&b=two');
  assert.deepEqual(echo.query, { a: '1', b: 'two' });
  assert.equal(echo.bodyText, 'hello domain');
  assert.equal(echo.headers.cookie, 'c1=v1; c2=v2');
  assert.equal(echo.headers['x-custom'], 'yes');
  assert.equal(echo.headers['x-appwrite-trigger'], 'http');
  assert.equal(echo.headers['x-appwrite-execution-id'], executionId);

  // stored like any other execution
  const execution = await functions.getExecution({ functionId: hello.$id, executionId });
  assert.equal(execution.trigger, 'http');
  assert.equal(execution.status, 'completed');
  assert.equal(execution.requestMethod, 'POST');
  assert.equal(execution.requestPath, '/echo/me?a=1&b=two');
  assert.equal(execution.responseStatusCode, 200);
});

test('binary bodies round-trip byte-exact through a domain', async () => {
  const bytes = Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 37) % 256));
  const res = await domainRequest(domainOf(context), '/binary-echo', {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  assert.equal(res.status, 200, res.body.toString('utf8'));
  assert.ok(res.headers['x-appwrite-execution-id']);
  assert.equal(Buffer.compare(res.body, bytes), 0, `got ${res.body.length} bytes`);
});

test('a rule created with proxy.createFunctionRule serves the function too', async () => {
  const domain = `custom-${Date.now().toString(36)}.example.test`;
  const rule = await proxy.createFunctionRule({ domain, functionId: hello.$id });
  assert.equal(rule.domain, domain);
  assert.equal(rule.trigger, 'manual');
  assert.equal(rule.deploymentResourceId, hello.$id);
  const res = await domainRequest(domain, '/via-custom');
  assert.equal(res.status, 200, res.body.toString('utf8'));
  assert.equal(JSON.parse(res.body.toString('utf8')).path, '/via-custom');
  await assert.rejects(proxy.createFunctionRule({ domain, functionId: context.$id }), (err) => {
    assert.equal(err.code, 409);
    assert.equal(err.type, 'rule_already_exists');
    return true;
  });
});

test('error pages: unknown domain 404, no execute permission 401, no deployment 404', async () => {
  assertErrorPage(await domainRequest(`nobody-here.${functionsDomain}`, '/'), 404, 'router_host_not_found');
  assertErrorPage(await domainRequest(domainOf(privateFn), '/'), 401, 'function_execute_permission_missing');
  await functions.update({ functionId: privateFn.$id, name: 'domains private', execute: ['any'] });
  assertErrorPage(await domainRequest(domainOf(privateFn), '/'), 404, 'deployment_not_found');
});

test('a function slower than its timeout answers 504', { timeout: 60_000 }, async () => {
  const res = await domainRequest(domainOf(hello), '/slow?ms=10000');
  assertErrorPage(res, 504, 'function_synchronous_timeout');
  const list = await functions.listExecutions({
    functionId: hello.$id,
    queries: [Query.equal('requestPath', '/slow?ms=10000')],
  });
  assert.equal(list.total, 1);
  assert.equal(list.executions[0].status, 'failed');
});
