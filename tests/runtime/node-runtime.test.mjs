// Runtime image test: fnplat/runtime-node-18.0 against the open-runtimes v5 contract (spec §7.4-7.8, §9).
//
//   node --test tests/runtime/
//
// Needs the docker CLI and a running engine; runs scripts/build-images.sh first (a no-op taking
// ~0.1 s when the image is up to date; FNPLAT_SKIP_IMAGE_BUILD=1 to only require that it exists).
// Builds and starts containers the way builder-worker / executor-worker do (docker create + cp +
// start), publishes port 3000 on 127.0.0.1 only, and removes every container it created.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

const IMAGE = process.env.FNPLAT_NODE_IMAGE || 'fnplat/runtime-node-18.0:latest';
const BAD_SIGNATURE = "Function signature invalid. Did you forget to export a 'main' function?";

// The harness's build and start (as builder-worker / executor-worker do) on IMAGE, entrypoint index.js.
const buildFixture = (name, commands, { entrypoint = 'index.js', ...options } = {}) =>
  h.buildFixture(IMAGE, name, commands, { entrypoint, ...options });
const startRuntime = (archive, { entrypoint = 'index.js', ...options } = {}) =>
  h.startRuntime(IMAGE, archive, { entrypoint, ...options });

before(() => h.ensureImages(['node-18.0']));
after(h.cleanup);

describe('build (helpers/build.sh)', () => {
  test('node-hello: npm install with a real dependency, packs code.tar.gz', { timeout: 180_000 }, async () => {
    const b = await buildFixture('node-hello', 'npm install');
    assert.equal(b.code, 0, `build failed:\n${b.stdout}\n${b.stderr}`);
    assert.match(b.stdout, /added \d+ package/);
    const list = await h.run('tar', ['-tzf', b.archive]);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /node_modules\/is-number\/package\.json/);
    assert.match(list.stdout, /\.open-runtimes/);
    assert.match(list.stdout, /index\.js/);
    const meta = await h.run('tar', ['-xzOf', b.archive, './.open-runtimes']);
    assert.match(meta.stdout, /^OPEN_RUNTIMES_ENTRYPOINT=index\.js$/m);
  });

  test('a failing build command exits with its code and keeps its output', { timeout: 120_000 }, async () => {
    const b = await buildFixture('node-hello', 'echo building; echo oops >&2; exit 3');
    assert.equal(b.code, 3);
    assert.match(b.stdout, /building/);
    assert.match(b.stderr, /oops/);
    assert.equal(b.archive, null);
  });

  test('an empty /mnt/code fails the build', { timeout: 60_000 }, async () => {
    const r = await h.runContainer(IMAGE, 'bash', '/usr/local/server/helpers/build.sh', 'true');
    assert.notEqual(r.code, 0);
  });
});

describe('node-hello (CommonJS + npm dependency)', () => {
  let rt;
  before(async () => {
    const b = await buildFixture('node-hello', 'npm install');
    assert.equal(b.code, 0, b.stdout + b.stderr);
    rt = await startRuntime(b.archive, { env: h.ECHO_ENV });
  });

  test('GET /__opr/health answers 200 OK without the secret; /__opr/timings reports startup', () =>
    h.assertHealthAndTimings(rt));

  test('missing or wrong secret => 500 with the exact message', () => h.assertSecretRequired(rt));

  test('echoes method, path, query, headers and body; logs go to the log files', async () => {
    const echo = await h.echoRequest(rt, 'node-hello');
    assert.equal(echo.scheme, 'http');
    assert.equal(echo.url, `${rt.base}/hello/world?x=1&y=abc&x=2&raw=a%20b`);
    assert.deepEqual(echo.isNumber, { 42: true, abc: false, query: { x: true, y: false, raw: false } });
    assert.deepEqual(echo.env, { entrypoint: 'index.js', custom: 'from-env' });
  });

  test('without a log id header the runtime generates one and returns it', () =>
    h.assertGeneratedLogIds(rt, 'node-hello'));

  test('x-open-runtimes-logging: disabled writes no log files', () => h.assertLoggingDisabled(rt));

  test('invalid x-open-runtimes-timeout => 500 with the exact message', () => h.assertBadTimeoutsRejected(rt));

  test('/throw => 500, stack trace in errors, default text/plain content type', async () => {
    const logId = `throw-${Date.now()}`;
    const res = await rt.call('/throw', { headers: { 'x-open-runtimes-log-id': logId } });
    assert.equal(res.status, 500);
    assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
    const errors = rt.readLog(logId, 'errors');
    assert.match(errors, /Error: node-hello was asked to throw/);
    assert.match(errors, /\n\s+at /, 'stack trace');
    assert.match(rt.readLog(logId, 'logs'), /node-hello called: GET \/throw/);
  });

  test('/slow with x-open-runtimes-timeout: 1 => 500 "Execution timed out." after ~1 s', async () => {
    const logId = `slow-${Date.now()}`;
    const t0 = performance.now();
    const res = await rt.call('/slow', { headers: { 'x-open-runtimes-timeout': '1', 'x-open-runtimes-log-id': logId } });
    const ms = performance.now() - t0;
    assert.equal(res.status, 500);
    assert.ok(ms >= 900 && ms < 5000, `answered after ${ms.toFixed(0)} ms`);
    assert.match(rt.readLog(logId, 'errors'), /Execution timed out\./);
    // the server keeps serving after a timeout
    const ok = await rt.call('/slow?ms=10', { headers: { 'x-open-runtimes-timeout': '5' } });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), 'slept 10 ms');
  });

  test('res.empty() => 204', async () => {
    const res = await rt.call('/empty');
    assert.equal(res.status, 204);
    assert.equal(await res.text(), '');
  });
});

describe('node-esm (ES module, context API)', () => {
  let rt;
  before(async () => {
    const b = await buildFixture('node-esm', '');
    assert.equal(b.code, 0, b.stdout + b.stderr);
    rt = await startRuntime(b.archive);
  });

  test('default export is loaded via import()', async () => {
    const res = await rt.call('/esm?q=1', { headers: { 'x-forwarded-proto': 'https' } });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.esm, true);
    assert.equal(body.path, '/esm');
    assert.equal(body.url, `${rt.base.replace('http:', 'https:')}/esm?q=1`);
    assert.equal(body.port, Number(new URL(rt.base).port));
  });

  test('req.host / req.port / req.url from the host header (default port omitted)', async () => {
    const body = await h.getJsonWithHost(rt, '/h?z=1', 'fn.example.com');
    assert.equal(body.url, 'http://fn.example.com/h?z=1');
    assert.equal(body.port, 80);
  });

  test('native console output is captured with the notice line first', async () => {
    const logId = `native-${Date.now()}`;
    const res = await rt.call('/', { headers: { 'x-open-runtimes-log-id': logId } });
    assert.equal(res.status, 200);
    assert.equal(
      rt.readLog(logId, 'logs'),
      `${h.NATIVE_LOGS}\nesm says hi {"n":1}\nnative console output\nnative console error output\n`,
    );
    assert.equal(rt.readLog(logId, 'errors'), 'esm error line\n');
  });

  test('concurrent executions keep their logs apart', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `conc-${Date.now()}-${i}`);
    const results = await Promise.all(ids.map((id) => rt.call(`/?id=${id}`, { headers: { 'x-open-runtimes-log-id': id } })));
    for (const [i, id] of ids.entries()) {
      assert.equal(results[i].status, 200);
      assert.equal(rt.readLog(id, 'logs').split('\n').length, 5, `logs of ${id}`);
      assert.equal(rt.readLog(id, 'errors'), 'esm error line\n');
    }
  });

  test('res.text with status and headers; x-open-runtimes-* response headers dropped', () => h.assertTextResponse(rt));

  test('res.binary, res.redirect, res.empty, res.send', () => h.assertResponseKinds(rt));

  test('req.bodyJson / req.body and binary round trip', () => h.assertBodyRoundTrip(rt));

  test('no return value => 500 with the spec message in errors', async () => {
    const logId = `none-${Date.now()}`;
    const res = await rt.call('/none', { headers: { 'x-open-runtimes-log-id': logId } });
    assert.equal(res.status, 500);
    assert.match(rt.readLog(logId, 'errors'), new RegExp(h.NO_RETURN.replace(/[.()]/g, '\\$&')));
  });
});

describe('failure modes', () => {
  test('node-throws => 500 with the stack in errors', { timeout: 120_000 }, async () => {
    const b = await buildFixture('node-throws', '');
    assert.equal(b.code, 0, b.stdout + b.stderr);
    const rt = await startRuntime(b.archive);
    const logId = 'throws-1';
    const res = await rt.call('/', { headers: { 'x-open-runtimes-log-id': logId } });
    assert.equal(res.status, 500);
    assert.match(rt.readLog(logId, 'errors'), /Error: node-throws: deliberate failure\n\s+at /);
    assert.equal(rt.readLog(logId, 'logs'), 'about to throw\n');
  });

  test('node-slow times out per x-open-runtimes-timeout', { timeout: 120_000 }, async () => {
    const b = await buildFixture('node-slow', '');
    assert.equal(b.code, 0, b.stdout + b.stderr);
    const rt = await startRuntime(b.archive);
    const res = await rt.call('/', { headers: { 'x-open-runtimes-timeout': '2', 'x-open-runtimes-log-id': 'slow-1' } });
    assert.equal(res.status, 500);
    assert.equal(rt.readLog('slow-1', 'errors'), 'Execution timed out.\n');
    assert.equal(rt.readLog('slow-1', 'logs'), 'sleeping 60000 ms\n');
  });

  test('missing entrypoint file => 503 and the spec error', { timeout: 120_000 }, async () => {
    const b = await buildFixture('node-throws', '', { entrypoint: 'missing.js' });
    assert.equal(b.code, 0, b.stdout + b.stderr);
    const rt = await startRuntime(b.archive, { entrypoint: 'missing.js' });
    const res = await rt.call('/', { headers: { 'x-open-runtimes-log-id': 'missing-1' } });
    assert.equal(res.status, 503);
    assert.equal(rt.readLog('missing-1', 'errors'), 'Failed to load entrypoint, file missing.js does not exist.\n');
  });

  test('export that is not a function => 503 and the spec error', { timeout: 120_000 }, async () => {
    const b = await buildFixture('node-bad-signature', '');
    assert.equal(b.code, 0, b.stdout + b.stderr);
    const rt = await startRuntime(b.archive);
    const res = await rt.call('/', { headers: { 'x-open-runtimes-log-id': 'sig-1' } });
    assert.equal(res.status, 503);
    assert.equal(rt.readLog('sig-1', 'errors'), `${BAD_SIGNATURE}\n`);
  });
});
