// End-to-end, table-driven: the same function behaviour in every installed runtime, deployed and run
// through the API with the official node-appwrite SDK (spec 7.4-7.8, 9.1, 9.4).
//
// Env: E2E_ENDPOINT, E2E_PROJECT, E2E_KEY (see functions.test.mjs); E2E_RUNTIME_WARM_CALLS (20);
// E2E_RUNTIMES (comma-separated ids: only those rows).
//
// Adding a runtime = one row in RUNTIMES: its id, its <lang>-context fixture (same routes and
// observable results as tests/fixtures/node-context), its dependency fixture, and a source file
// with a syntax error. Rows whose deploy/runtimes/<id> directory does not exist are left out (the
// runtime is not part of this tree); every other row must be listed by GET /v1/functions/runtimes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppwriteException, Client, ExecutionMethod, Functions, ID } from 'node-appwrite';
import { InputFile } from 'node-appwrite/file';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURES = join(ROOT, 'tests/fixtures');
const ENDPOINT = process.env.E2E_ENDPOINT ?? 'http://127.0.0.1:18080/v1';
const PROJECT = process.env.E2E_PROJECT ?? 'e2e';
const KEY = process.env.E2E_KEY ?? '';
const WARM_CALLS = Number(process.env.E2E_RUNTIME_WARM_CALLS ?? 20);
const BUILD_TIMEOUT_MS = 8 * 60_000;
const FUNCTION_TIMEOUT_S = 5;

const NATIVE_LOGS = 'Native logs detected. Use context.log() or context.error() for better experience.';
const NO_RETURN = 'Return statement missing. return context.res.empty() if no response is expected.';
const LOGS_TRUNCATED = '[WARNING] Logs truncated. The output exceeded 1000000 characters.\n';

/**
 * One row per runtime.
 *   context:     fixture dir (tests/fixtures) + entrypoint + build commands of the <lang>-context fixture
 *   deps:        fixture with a real registry dependency, the path to call and a check of its JSON body
 *   syntaxError: a one-file function that does not parse, and what its errors must show
 */
const RUNTIMES = [
  ...['node-18.0', 'node-20.0'].map((id) => ({
    id,
    context: { dir: 'node-context', entrypoint: 'index.js', commands: '' },
    deps: {
      dir: 'node-hello', entrypoint: 'index.js', commands: 'npm install', path: '/deps?n=42',
      check: (json) => assert.deepEqual(json.isNumber, { 42: true, abc: false, query: { n: true } }),
    },
    syntaxError: { file: 'index.js', content: 'module.exports = async (context => {\n', errors: /SyntaxError/ },
  })),
  ...['python-3.11', 'python-3.13'].map((id) => ({
    id,
    context: { dir: 'python-context', entrypoint: 'main.py', commands: '' },
    deps: {
      dir: 'python-deps', entrypoint: 'src/main.py', commands: 'pip install -r requirements.txt', path: '/?n=1234567',
      check: (json) => assert.deepEqual(json, { intcomma: '1,234,567', naturalsize: '1.2 MB', module: 'runtime-env' }),
    },
    syntaxError: { file: 'main.py', content: 'def main(context)\n    return None\n', errors: /SyntaxError/ },
  })),
  ...['php-8.2', 'php-8.4'].map((id) => ({
    id,
    context: { dir: 'php-context', entrypoint: 'index.php', commands: '' },
    deps: {
      dir: 'php-deps', entrypoint: 'src/main.php', commands: 'composer install', path: '/?n=12',
      check: (json) => assert.deepEqual(json, { n: '12', integerish: true,
        assertFile: '/usr/local/server/src/function/vendor/webmozart/assert/src/Assert.php' }),
    },
    syntaxError: { file: 'index.php', content: '<?php\nreturn function ($context) {\n', errors: /ParseError/ },
  })),
  ...['ruby-3.1', 'ruby-3.3'].map((id) => ({
    id,
    context: { dir: 'ruby-context', entrypoint: 'index.rb', commands: '' },
    deps: {
      dir: 'ruby-deps', entrypoint: 'index.rb', commands: 'bundle install --local --no-cache', path: '/users/42',
      check: (json) => assert.deepEqual(json.params, { id: '42' }),
    },
    syntaxError: { file: 'index.rb', content: 'def main(context)\n  context.res.empty(\n', errors: /SyntaxError/ },
  })),
]
  .filter((row) => existsSync(join(ROOT, 'deploy/runtimes', row.id)))
  // E2E_RUNTIMES=python-3.11,node-20.0 runs only those rows (while developing one runtime)
  .filter((row) => !process.env.E2E_RUNTIMES || process.env.E2E_RUNTIMES.split(',').includes(row.id));

const client = new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setKey(KEY);
const functions = new Functions(client);
const work = mkdtempSync(join(tmpdir(), 'fnplat-e2e-rt-'));
const created = [];
const report = [];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const header = (list, name) => list.find((h) => h.name.toLowerCase() === name)?.value;
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

function pack(dir, name) {
  const out = join(work, `${name}-${created.length}-${Date.now()}.tar.gz`);
  execFileSync('tar', ['--exclude=./node_modules', '--exclude=./runtime-env', '-czf', out, '-C', dir, '.']);
  return out;
}

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

/** Creates a function, uploads `dir`, waits for the build and activates it: {fn, deployment, ms}. */
async function deploy(row, name, dir, { entrypoint, commands }) {
  const fn = await functions.create({
    functionId: ID.unique(),
    name: `e2e ${row.id} ${name}`,
    runtime: row.id,
    entrypoint,
    commands,
    timeout: FUNCTION_TIMEOUT_S,
  });
  created.push(fn.$id);
  const t0 = performance.now();
  const deployment = await functions.createDeployment({
    functionId: fn.$id,
    code: InputFile.fromPath(pack(dir, `${row.id}-${name}`), 'code.tar.gz'),
    activate: false,
  });
  const done = await waitDeployment(fn.$id, deployment.$id);
  const ms = performance.now() - t0;
  assert.equal(done.status, 'ready', `${row.id} ${name} build logs:\n${done.buildLogs}`);
  await functions.updateFunctionDeployment({ functionId: fn.$id, deploymentId: done.$id });
  return { fn, deployment: done, ms };
}

const exec = (fn, xpath, params = {}) =>
  functions.createExecution({ functionId: fn.$id, xpath, method: ExecutionMethod.GET, ...params });

function assertFailed(ex, code, errors) {
  assert.equal(ex.status, 'failed', `status (errors: ${ex.errors})`);
  assert.equal(ex.responseStatusCode, code, `responseStatusCode (errors: ${ex.errors})`);
  assert.match(ex.errors, errors);
}

before(() => {
  assert.ok(KEY, 'E2E_KEY is set');
  assert.ok(RUNTIMES.length > 0, 'at least one runtime row');
});

after(async () => {
  for (const functionId of created) await functions.delete({ functionId }).catch(() => {});
  rmSync(work, { recursive: true, force: true });
  if (report.length > 0) {
    console.log('[e2e] runtime report (wall times through the API):');
    for (const r of report) console.log(`[e2e]   ${JSON.stringify(r)}`);
  }
});

test('GET /v1/functions/runtimes lists every runtime of the table', async () => {
  const res = await fetch(`${ENDPOINT}/functions/runtimes`, {
    headers: { 'x-appwrite-project': PROJECT, 'x-appwrite-key': KEY },
  });
  assert.equal(res.status, 200);
  const ids = (await res.json()).runtimes.map((r) => r.$id);
  for (const row of RUNTIMES) assert.ok(ids.includes(row.id), `${row.id} installed (listed: ${ids.join(', ')})`);
});

for (const row of RUNTIMES) {
  describe(row.id, () => {
    const prefix = row.context.dir; // e.g. python-context: the fixture's log/header prefix
    const stats = { runtime: row.id };
    report.push(stats);
    let ctx; // Promise<deploy result> of the context fixture
    let deps;
    let missing;
    let syntax;

    before(() => {
      const contextDir = join(FIXTURES, row.context.dir);
      assert.ok(existsSync(contextDir), `fixture ${contextDir}`);
      const syntaxDir = join(work, `${row.id}-syntax`);
      mkdirSync(dirname(join(syntaxDir, row.syntaxError.file)), { recursive: true });
      writeFileSync(join(syntaxDir, row.syntaxError.file), row.syntaxError.content);
      // The builds run concurrently; each test awaits the one it needs.
      ctx = deploy(row, 'context', contextDir, row.context);
      deps = deploy(row, 'deps', join(FIXTURES, row.deps.dir), row.deps);
      missing = deploy(row, 'missing', contextDir, { ...row.context, entrypoint: `missing-${row.context.entrypoint}` });
      syntax = deploy(row, 'syntax', syntaxDir, { entrypoint: row.syntaxError.file, commands: '' });
      for (const p of [ctx, deps, missing, syntax]) p.catch(() => {});
    });

    test('context fixture: echo of every request member (cold start)', { timeout: BUILD_TIMEOUT_MS + 60_000 }, async () => {
      const { fn } = await ctx;
      const t0 = performance.now();
      const ex = await exec(fn, '/hello/world?x=1&y=abc&x=2&raw=a%20b', {
        method: ExecutionMethod.POST,
        body: '{"hello":"world"}',
        headers: { 'content-type': 'application/json', 'x-e2e-header': 'e2e-value' },
      });
      stats.coldStartMs = Math.round(performance.now() - t0);
      assert.equal(ex.status, 'completed', `errors: ${ex.errors}`);
      assert.equal(ex.responseStatusCode, 200);
      assert.equal(header(ex.responseHeaders, `x-${prefix}`), 'yes');
      assert.match(header(ex.responseHeaders, 'content-type'), /^application\/json; charset=utf-8$/);
      const echo = JSON.parse(ex.responseBody);
      assert.equal(echo.method, 'POST');
      assert.equal(echo.path, '/hello/world');
      assert.equal(echo.queryString, 'x=1&y=abc&x=2&raw=a%20b');
      assert.deepEqual(echo.query, { x: '1', y: 'abc', raw: 'a%20b' });
      assert.equal(echo.bodyText, '{"hello":"world"}');
      assert.equal(echo.bodyRaw, '{"hello":"world"}');
      assert.equal(echo.bodyBinaryLength, 17);
      assert.deepEqual(echo.body, { hello: 'world' });
      assert.equal(echo.headers['x-e2e-header'], 'e2e-value');
      assert.equal(echo.headers['x-appwrite-trigger'], 'http');
      assert.equal(echo.headers['x-appwrite-execution-id'], ex.$id);
      for (const key of Object.keys(echo.headers)) assert.ok(!key.startsWith('x-open-runtimes-'), key);
      assert.equal(echo.scheme, 'http');
      assert.ok(echo.host.length > 0, 'host');
      assert.equal(typeof echo.port, 'number');
      const portPart = echo.port === 80 ? '' : `:${echo.port}`;
      assert.equal(echo.url, `http://${echo.host}${portPart}/hello/world?x=1&y=abc&x=2&raw=a%20b`);
      assert.equal(echo.env.entrypoint, row.context.entrypoint);
      assert.equal(ex.logs, `${prefix} called: POST /hello/world\n{"query":{"x":"1","y":"abc","raw":"a%20b"}}\n`);
      assert.equal(ex.errors, `${prefix} error channel check\n`);
    });

    test(`warm executions (${WARM_CALLS} calls)`, { timeout: 300_000 }, async () => {
      const { fn } = await ctx;
      const times = [];
      for (let i = 0; i < WARM_CALLS; i++) {
        const t0 = performance.now();
        const ex = await exec(fn, `/warm?i=${i}`);
        times.push(performance.now() - t0);
        assert.equal(ex.status, 'completed', `call ${i}: ${ex.errors}`);
        assert.equal(JSON.parse(ex.responseBody).query.i, String(i));
      }
      times.sort((a, b) => a - b);
      stats.warmP50Ms = Number(percentile(times, 50).toFixed(1));
      stats.warmP90Ms = Number(percentile(times, 90).toFixed(1));
    });

    test('response kinds: text, json, redirect, empty, send, bodyJson, binary', { timeout: BUILD_TIMEOUT_MS + 60_000 }, async () => {
      const { fn } = await ctx;
      const text = await exec(fn, '/text');
      assert.equal(text.status, 'completed');
      assert.equal(text.responseStatusCode, 201);
      assert.equal(text.responseBody, 'plain text');
      assert.equal(header(text.responseHeaders, 'x-custom'), 'custom-value');
      assert.equal(header(text.responseHeaders, 'x-open-runtimes-leak'), undefined);
      assert.equal(header(text.responseHeaders, 'content-type'), 'text/plain; charset=utf-8');

      const json = await exec(fn, '/json');
      assert.equal(json.responseStatusCode, 200);
      assert.deepEqual(JSON.parse(json.responseBody), { kind: 'json', list: [1, 2], nested: { ok: true } });
      assert.equal(header(json.responseHeaders, 'x-json'), 'yes');
      assert.match(header(json.responseHeaders, 'content-type'), /^application\/json/);

      const redirect = await exec(fn, '/redirect');
      assert.equal(redirect.responseStatusCode, 302);
      assert.equal(header(redirect.responseHeaders, 'location'), 'https://example.com/target');
      const redirectDefault = await exec(fn, '/redirect-default');
      assert.equal(redirectDefault.responseStatusCode, 301);
      assert.equal(header(redirectDefault.responseHeaders, 'location'), 'https://example.com/default');

      const empty = await exec(fn, '/empty');
      assert.equal(empty.status, 'completed');
      assert.equal(empty.responseStatusCode, 204);
      assert.equal(empty.responseBody, '');

      const sent = await exec(fn, '/send');
      assert.equal(sent.responseStatusCode, 202);
      assert.equal(sent.responseBody, 'sent body');

      const bodyJson = await exec(fn, '/bodyjson', {
        method: ExecutionMethod.POST,
        body: '{"a":[1,2]}',
        headers: { 'content-type': 'application/json; charset=utf-8' },
      });
      assert.deepEqual(JSON.parse(bodyJson.responseBody), { bodyJson: { a: [1, 2] }, body: { a: [1, 2] } });

      const echo = await exec(fn, '/binary-echo', { method: ExecutionMethod.POST, body: 'bytes round trip' });
      assert.equal(echo.responseBody, 'bytes round trip');

      // a non-UTF-8 body cannot be returned as JSON (spec 7.6)
      await assert.rejects(exec(fn, '/binary'), (err) => {
        assert.ok(err instanceof AppwriteException, String(err));
        assert.equal(err.code, 400);
        assert.match(err.message, /Failed to parse response/);
        return true;
      });
    });

    test('native output: notice line first, then every line in order', { timeout: BUILD_TIMEOUT_MS + 60_000 }, async () => {
      const { fn } = await ctx;
      const ex = await exec(fn, '/native');
      assert.equal(ex.status, 'completed');
      assert.equal(ex.responseBody, 'native done');
      assert.equal(ex.logs,
        `${NATIVE_LOGS}\n${prefix} called: GET /native\n{"query":{}}\nnative echo output\nnative print continued\nafter native\n`);
    });

    test('exception => failed, 500, the error in errors', { timeout: BUILD_TIMEOUT_MS + 60_000 }, async () => {
      const { fn } = await ctx;
      assertFailed(await exec(fn, '/throw'), 500, new RegExp(`${prefix} was asked to throw`));
    });

    test('no return value => failed, 500, the contract message', { timeout: BUILD_TIMEOUT_MS + 60_000 }, async () => {
      const { fn } = await ctx;
      const ex = await exec(fn, '/none');
      assertFailed(ex, 500, /Return statement missing/);
      assert.ok(ex.errors.includes(NO_RETURN), ex.errors);
    });

    test(`timeout (${FUNCTION_TIMEOUT_S} s) => failed, 500, "Execution timed out."`, { timeout: BUILD_TIMEOUT_MS + 60_000 }, async () => {
      const { fn } = await ctx;
      const ex = await exec(fn, '/slow');
      assertFailed(ex, 500, /Execution timed out\./);
      const ok = await exec(fn, '/slow?ms=10');
      assert.equal(ok.status, 'completed', 'the runtime keeps serving after a timeout');
      assert.equal(ok.responseBody, 'slept 10 ms');
    });

    test('20 MB of logs: stored truncated with the marker, execution completes', { timeout: BUILD_TIMEOUT_MS + 120_000 }, async () => {
      const { fn } = await ctx;
      const ex = await exec(fn, '/big-log');
      assert.equal(ex.status, 'completed', `errors: ${ex.errors.slice(0, 500)}`);
      assert.equal(ex.responseStatusCode, 200);
      assert.equal(ex.responseBody, 'logged');
      assert.ok(ex.logs.startsWith(LOGS_TRUNCATED), ex.logs.slice(0, 200));
      assert.ok(ex.logs.length <= 1_000_000 + LOGS_TRUNCATED.length, `stored logs ${ex.logs.length} chars`);
      assert.ok(ex.logs.length > 900_000, `stored logs ${ex.logs.length} chars`);
      assert.match(ex.logs, /\d{5} x{100}/);
      const stored = await functions.getExecution({ functionId: fn.$id, executionId: ex.$id });
      assert.equal(stored.logs, ex.logs);
    });

    test('dependency fixture: built with a real registry package and used', { timeout: BUILD_TIMEOUT_MS + 60_000 }, async () => {
      const { fn, deployment, ms } = await deps;
      stats.depsBuildS = deployment.buildDuration;
      stats.depsDeployWallMs = Math.round(ms);
      const ex = await exec(fn, row.deps.path);
      assert.equal(ex.status, 'completed', `errors: ${ex.errors}`);
      assert.equal(ex.responseStatusCode, 200);
      row.deps.check(JSON.parse(ex.responseBody));
    });

    test('missing entrypoint => failed, 503, the contract message', { timeout: BUILD_TIMEOUT_MS + 60_000 }, async () => {
      const { fn } = await missing;
      const file = `missing-${row.context.entrypoint}`;
      const ex = await exec(fn, '/');
      assertFailed(ex, 503, new RegExp(`Failed to load entrypoint, file ${file.replace(/\./g, '\\.')} does not exist\\.`));
    });

    test('syntax error => failed, 503, the parser error in errors', { timeout: BUILD_TIMEOUT_MS + 60_000 }, async () => {
      const { fn } = await syntax;
      assertFailed(await exec(fn, '/'), 503, row.syntaxError.errors);
    });
  });
}
