// Runtime image test: fnplat/runtime-python-3.11 and -3.13 against the open-runtimes v5 contract
// (spec 7.4-7.8, 9.1, 9.4), with tests/fixtures/python-context and python-deps.
//
//   node --test tests/runtime/        (FNPLAT_SKIP_IMAGE_BUILD=1: only require the images)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';

const IDS = (process.env.FNPLAT_PYTHON_RUNTIMES || 'python-3.11,python-3.13').split(',');
const SIGNATURE = "Function signature invalid. Did you forget to export a 'main' function?";

before(() => h.ensureImages(IDS));
after(h.cleanup);

for (const id of IDS) {
  const image = `fnplat/runtime-${id}:latest`;

  describe(`${id}: python-context`, () => {
    let rt;
    before(async () => {
      const b = await h.buildFixture(image, 'python-context', '', { entrypoint: 'main.py' });
      assert.equal(b.code, 0, b.stdout + b.stderr);
      rt = await h.startRuntime(image, b.archive, {
        entrypoint: 'main.py',
        env: h.ECHO_ENV,
      });
    });

    test('health, secret and timeout header checks', async () => {
      await h.assertHealthAndTimings(rt);
      await h.assertSecretRequired(rt);
      await h.assertBadTimeoutsRejected(rt);
    });

    test('echo: every request member, header hygiene, enforced headers, log files', async () => {
      const echo = await h.echoRequest(rt, 'python-context', { headers: { 'x-forwarded-proto': 'https' } });
      assert.equal(echo.bodyRaw, '{"hello":"world"}');
      assert.equal(echo.bodyBinaryLength, 17);
      const { port } = new URL(rt.base);
      assert.equal(echo.scheme, 'https');
      assert.equal(echo.port, Number(port));
      assert.equal(echo.url, `https://127.0.0.1:${port}/hello/world?x=1&y=abc&x=2&raw=a%20b`);
      assert.deepEqual(echo.env, { entrypoint: 'main.py', custom: 'from-env' });
    });

    test('generated log ids are unique; logging disabled writes nothing', async () => {
      await h.assertGeneratedLogIds(rt, 'python-context');
      await h.assertLoggingDisabled(rt);
    });

    test('response kinds: text, binary, json, redirect, empty, send, body_json, binary echo', async () => {
      await h.assertTextResponse(rt);
      await h.assertResponseKinds(rt);
      const json = await rt.call('/json');
      assert.deepEqual(await json.json(), { kind: 'json', list: [1, 2], nested: { ok: true } });
      assert.equal(json.headers.get('x-json'), 'yes');
      const redirectDefault = await rt.call('/redirect-default');
      assert.equal(redirectDefault.status, 301);
      await h.assertBodyRoundTrip(rt);
      const head = await rt.call('/text', { method: 'HEAD' });
      assert.equal(head.status, 201);
    });

    test('native print output is captured after the notice line', async () => {
      const logId = `native-${Date.now()}`;
      const res = await rt.call('/native', { headers: { 'x-open-runtimes-log-id': logId } });
      assert.equal(res.status, 200);
      assert.equal(rt.readLog(logId, 'logs'),
        `${h.NATIVE_LOGS}\npython-context called: GET /native\n{"query":{}}\nnative echo output\nnative print continued\nafter native\n`);
    });

    test('exception => 500 with the traceback in errors', async () => {
      const res = await rt.call('/throw', { headers: { 'x-open-runtimes-log-id': 'throw-1' } });
      assert.equal(res.status, 500);
      assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
      assert.match(rt.readLog('throw-1', 'errors'), /Traceback \(most recent call last\):\n[\s\S]*RuntimeError: python-context was asked to throw\n$/);
    });

    test('no return value => 500 with the spec message', async () => {
      const res = await rt.call('/none', { headers: { 'x-open-runtimes-log-id': 'none-1' } });
      assert.equal(res.status, 500);
      assert.equal(rt.readLog('none-1', 'errors'), `python-context error channel check\n${h.NO_RETURN}\n`);
    });

    test('timeout => 500 "Execution timed out." and the server keeps serving', async () => {
      const res = await rt.call('/slow', { headers: { 'x-open-runtimes-timeout': '1', 'x-open-runtimes-log-id': 'slow-1' } });
      assert.equal(res.status, 500);
      assert.equal(rt.readLog('slow-1', 'errors'), 'python-context error channel check\nExecution timed out.\n');
      const ok = await rt.call('/slow?ms=10', { headers: { 'x-open-runtimes-timeout': '5' } });
      assert.equal(ok.status, 200);
      assert.equal(await ok.text(), 'slept 10 ms');
    });

    test('concurrent executions keep their logs apart', async () => {
      const ids = Array.from({ length: 20 }, (_, i) => `conc-${Date.now()}-${i}`);
      const results = await Promise.all(ids.map((lid) => rt.call(`/native?id=${lid}`, { headers: { 'x-open-runtimes-log-id': lid } })));
      for (const [i, lid] of ids.entries()) {
        assert.equal(results[i].status, 200);
        assert.equal(rt.readLog(lid, 'logs'),
          `${h.NATIVE_LOGS}\npython-context called: GET /native\n{"query":{"id":"${lid}"}}\nnative echo output\nnative print continued\nafter native\n`);
      }
    });

    test('a 8000+ char log line is truncated with the marker', async () => {
      const res = await rt.call('/big-log', { headers: { 'x-open-runtimes-log-id': 'big-1' } });
      assert.equal(res.status, 200);
      const lines = rt.readLog('big-1', 'logs').split('\n');
      assert.equal(lines.length, 2 + 2600 + 1);
      assert.equal(lines[2], `00000 ${'x'.repeat(7994)}... Log truncated due to size limit (8000 characters)`);
    });
  });

  describe(`${id}: python-deps (pip install -r requirements.txt)`, () => {
    test('the dependency is installed into the function and importable', { timeout: 300_000 }, async () => {
      const b = await h.buildFixture(image, 'python-deps', 'pip install -r requirements.txt', { entrypoint: 'src/main.py' });
      assert.equal(b.code, 0, b.stdout + b.stderr);
      assert.match(b.stdout, /Successfully installed humanize/);
      const rt = await h.startRuntime(image, b.archive, { entrypoint: 'src/main.py' });
      const res = await rt.call('/?n=1234567', { headers: { 'x-open-runtimes-log-id': 'deps-1' } });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { intcomma: '1,234,567', naturalsize: '1.2 MB', module: 'runtime-env' });
      assert.equal(rt.readLog('deps-1', 'logs'), 'python-deps formatting 1234567\n');
    });

    test('missing entrypoint => 503; missing main => 503 with the signature message', { timeout: 120_000 }, async () => {
      const b = await h.buildFixture(image, 'python-deps', '', { entrypoint: 'missing.py' });
      assert.equal(b.code, 0, b.stdout + b.stderr);
      const rt = await h.startRuntime(image, b.archive, { entrypoint: 'missing.py' });
      const res = await rt.call('/', { headers: { 'x-open-runtimes-log-id': 'missing-1' } });
      assert.equal(res.status, 503);
      assert.equal(rt.readLog('missing-1', 'errors'), 'Failed to load entrypoint, file missing.py does not exist.\n');
      // .open-runtimes in the archive carries the build's entrypoint: build again for this one
      const b2 = await h.buildFixture(image, 'python-deps', '', { entrypoint: 'src/helper.py' });
      assert.equal(b2.code, 0, b2.stdout + b2.stderr);
      const sig = await h.startRuntime(image, b2.archive, { entrypoint: 'src/helper.py' });
      const res2 = await sig.call('/', { headers: { 'x-open-runtimes-log-id': 'sig-1' } });
      assert.equal(res2.status, 503);
      assert.equal(sig.readLog('sig-1', 'errors'), `${SIGNATURE}\n`);
    });
  });
}
