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
import { cleanup as cleanupHarness, docker, fetchWithTimeout, run } from './harness.mjs';
import http from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURES = join(ROOT, 'tests/fixtures');
const IMAGE = process.env.FNPLAT_NODE_IMAGE || 'fnplat/runtime-node-18.0:latest';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const PREFIX = `fnplat-rtest-${process.pid}-${Date.now().toString(36)}`;
const SECRET = 'test-secret-0123456789abcdef';
const UNAUTHORIZED = 'Unauthorized. Provide correct "x-open-runtimes-secret" header.';
const BAD_TIMEOUT = 'Header "x-open-runtimes-timeout" must be an integer greater than 0.';
const NATIVE_LOGS = 'Native logs detected. Use context.log() or context.error() for better experience.';
const NO_RETURN = 'Return statement missing. return context.res.empty() if no response is expected.';
const BAD_SIGNATURE = "Function signature invalid. Did you forget to export a 'main' function?";

const WORK = mkdtempSync(join(tmpdir(), 'fnplat-rtest-'));
const containers = new Set();
let seq = 0;

async function packFixture(name) {
  const tarball = join(WORK, `${name}-${++seq}-source.tar.gz`);
  const r = await run('tar', ['--exclude=node_modules', '-C', join(FIXTURES, name), '-czf', tarball, '.']);
  assert.equal(r.code, 0, r.stderr);
  return tarball;
}

// Builds like builder-worker: source uploaded at /tmp/code.tar.gz, output copied from /mnt/code.
async function buildFixture(name, commands, { entrypoint = 'index.js', env = {} } = {}) {
  const source = await packFixture(name);
  const container = `${PREFIX}-build-${name}-${++seq}`;
  const envArgs = Object.entries({
    OPEN_RUNTIMES_ENTRYPOINT: entrypoint,
    NODE_EXTRA_CA_CERTS: CA_BUNDLE,
    npm_config_cafile: CA_BUNDLE,
    CI: 'true',
    ...env,
  }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  const cmd = `mkdir -p /mnt/code && tar -zxf /tmp/code.tar.gz -C /mnt/code && bash /usr/local/server/helpers/build.sh ${shellQuote(commands)}`;
  containers.add(container);
  await docker('create', '--name', container, '-v', `${CA_BUNDLE}:${CA_BUNDLE}:ro`, ...envArgs, IMAGE, 'bash', '-c', cmd);
  await docker('cp', source, `${container}:/tmp/code.tar.gz`);
  const started = await run('docker', ['start', '-a', container]);
  let archive = null;
  if (started.code === 0) {
    archive = join(WORK, `${name}-${seq}-build.tar.gz`);
    await docker('cp', `${container}:/mnt/code/code.tar.gz`, archive);
  }
  await run('docker', ['rm', '-f', container]);
  containers.delete(container);
  return { ...started, archive };
}

// fetch with a timeout that keeps the event loop alive (AbortSignal.timeout() is unref'd, and a
// connection accepted by docker-proxy before the server listens can otherwise hang unreferenced).
function shellQuote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

// Starts like executor-worker: built archive uploaded as /mnt/code/code.tar.gz, logs dir bind-mounted.
async function startRuntime(archive, { entrypoint = 'index.js', env = {} } = {}) {
  const container = `${PREFIX}-run-${++seq}`;
  const logsDir = join(WORK, `logs-${seq}`);
  mkdirSync(logsDir, { recursive: true });
  const envArgs = Object.entries({
    OPEN_RUNTIMES_SECRET: SECRET,
    OPEN_RUNTIMES_ENTRYPOINT: entrypoint,
    ...env,
  }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  containers.add(container);
  await docker('create', '--name', container, '-p', '127.0.0.1::3000', '-v', `${logsDir}:/mnt/logs`, ...envArgs,
    IMAGE, 'bash', '/usr/local/server/helpers/start.sh', 'bash /usr/local/server/helpers/server.sh');
  await docker('cp', archive, `${container}:/mnt/code/code.tar.gz`);
  await docker('start', container);
  const mapping = (await docker('port', container, '3000/tcp')).split('\n').find((l) => l.startsWith('127.0.0.1:'));
  assert.ok(mapping, 'port 3000 published on 127.0.0.1');
  const base = `http://${mapping.trim()}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const res = await fetchWithTimeout(`${base}/__opr/health`, {}, 2000);
      if (res.status === 200) break;
    } catch (_) {
      // not listening yet
    }
    if (Date.now() > deadline) {
      const logs = await run('docker', ['logs', container]);
      throw new Error(`runtime ${container} not healthy after 20 s:\n${logs.stdout}${logs.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const call = (path, { headers = {}, secret = SECRET, ...init } = {}) =>
    fetchWithTimeout(`${base}${path}`, {
      redirect: 'manual',
      ...init,
      headers: { ...(secret === null ? {} : { 'x-open-runtimes-secret': secret }), ...headers },
    });
  const readLog = (id, kind) => {
    const file = join(logsDir, `${id}_${kind}.log`);
    return existsSync(file) ? readFileSync(file, 'utf8') : null;
  };
  return { container, base, call, logsDir, readLog };
}

before(async () => {
  if (process.env.FNPLAT_SKIP_IMAGE_BUILD === '1') {
    const r = await run('docker', ['image', 'inspect', IMAGE]);
    assert.equal(r.code, 0, `image ${IMAGE} missing: run scripts/build-images.sh`);
    return;
  }
  const r = await run('bash', [join(ROOT, 'scripts/build-images.sh'), 'node-18.0'], { timeoutMs: 600_000 });
  assert.equal(r.code, 0, `scripts/build-images.sh failed:\n${r.stderr}\n${r.stdout}`);
});

after(async () => {
  await cleanupHarness();
  if (containers.size > 0) await run('docker', ['rm', '-f', ...containers]);
  rmSync(WORK, { recursive: true, force: true });
});

describe('build (helpers/build.sh)', () => {
  test('node-hello: npm install with a real dependency, packs code.tar.gz', { timeout: 180_000 }, async () => {
    const b = await buildFixture('node-hello', 'npm install');
    assert.equal(b.code, 0, `build failed:\n${b.stdout}\n${b.stderr}`);
    assert.match(b.stdout, /added \d+ package/);
    const list = await run('tar', ['-tzf', b.archive]);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /node_modules\/is-number\/package\.json/);
    assert.match(list.stdout, /\.open-runtimes/);
    assert.match(list.stdout, /index\.js/);
    const meta = await run('tar', ['-xzOf', b.archive, './.open-runtimes']);
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
    const name = `${PREFIX}-build-empty`;
    containers.add(name);
    const r = await run('docker', ['run', '--name', name, IMAGE, 'bash', '/usr/local/server/helpers/build.sh', 'true']);
    await run('docker', ['rm', '-f', name]);
    containers.delete(name);
    assert.notEqual(r.code, 0);
  });
});

describe('node-hello (CommonJS + npm dependency)', () => {
  let rt;
  before(async () => {
    const b = await buildFixture('node-hello', 'npm install');
    assert.equal(b.code, 0, b.stdout + b.stderr);
    rt = await startRuntime(b.archive, {
      env: {
        FNPLAT_TEST_VAR: 'from-env',
        OPEN_RUNTIMES_HEADERS: JSON.stringify({ 'X-Enforced': 'enforced-value' }),
      },
    });
  });

  test('GET /__opr/health answers 200 OK without the secret', async () => {
    const res = await rt.call('/__opr/health', { secret: null });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'OK');
  });

  test('missing or wrong secret => 500 with the exact message', async () => {
    for (const secret of [null, 'wrong']) {
      const res = await rt.call('/', { secret });
      assert.equal(res.status, 500);
      assert.equal(await res.text(), UNAUTHORIZED);
    }
  });

  test('echoes method, path, query, headers and body; logs go to the log files', async () => {
    const logId = `echo-${Date.now()}`;
    const res = await rt.call('/hello/world?x=1&y=abc&x=2&raw=a%20b', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-custom-header': 'custom-value',
        'x-enforced': 'overridden-by-env',
        'x-open-runtimes-log-id': logId,
        'x-open-runtimes-timeout': '10',
        'x-open-runtimes-something': 'hidden',
      },
      body: JSON.stringify({ hello: 'world' }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(res.headers.get('x-node-hello'), 'yes');
    assert.equal(res.headers.get('x-open-runtimes-log-id'), logId);
    const echo = await res.json();
    assert.equal(echo.method, 'POST');
    assert.equal(echo.path, '/hello/world');
    assert.equal(echo.queryString, 'x=1&y=abc&x=2&raw=a%20b');
    assert.deepEqual(echo.query, { x: '1', y: 'abc', raw: 'a%20b' });
    assert.equal(echo.bodyText, '{"hello":"world"}');
    assert.deepEqual(echo.body, { hello: 'world' });
    assert.equal(echo.headers['x-custom-header'], 'custom-value');
    assert.equal(echo.headers['x-enforced'], 'enforced-value', 'OPEN_RUNTIMES_HEADERS wins');
    for (const key of Object.keys(echo.headers)) {
      assert.ok(!key.startsWith('x-open-runtimes-'), `function must not see ${key}`);
    }
    assert.equal(echo.scheme, 'http');
    assert.equal(echo.host, '127.0.0.1');
    assert.equal(echo.url, `${rt.base}/hello/world?x=1&y=abc&x=2&raw=a%20b`);
    assert.deepEqual(echo.isNumber, { 42: true, abc: false, query: { x: true, y: false, raw: false } });
    assert.deepEqual(echo.env, { entrypoint: 'index.js', custom: 'from-env' });

    assert.equal(rt.readLog(logId, 'logs'), 'node-hello called: POST /hello/world\n{"query":{"x":"1","y":"abc","raw":"a%20b"}}\n');
    assert.equal(rt.readLog(logId, 'errors'), 'node-hello error channel check\n');
  });

  test('without a log id header the runtime generates one and returns it', async () => {
    const res = await rt.call('/generated');
    assert.equal(res.status, 200);
    const logId = res.headers.get('x-open-runtimes-log-id');
    assert.ok(logId && logId.length >= 8, `log id: ${logId}`);
    assert.match(rt.readLog(decodeURIComponent(logId), 'logs'), /node-hello called: GET \/generated/);
    const second = (await rt.call('/generated')).headers.get('x-open-runtimes-log-id');
    assert.notEqual(second, logId, 'ids are unique');
  });

  test('x-open-runtimes-logging: disabled writes no log files', async () => {
    const logId = `disabled-${Date.now()}`;
    const res = await rt.call('/quiet', {
      headers: { 'x-open-runtimes-logging': 'disabled', 'x-open-runtimes-log-id': logId },
    });
    assert.equal(res.status, 200);
    assert.equal(rt.readLog(logId, 'logs'), null);
    assert.equal(rt.readLog(logId, 'errors'), null);
  });

  test('invalid x-open-runtimes-timeout => 500 with the exact message', async () => {
    for (const value of ['0', '-1', 'abc', '1.5']) {
      const res = await rt.call('/', { headers: { 'x-open-runtimes-timeout': value } });
      assert.equal(res.status, 500, `timeout ${value}`);
      assert.equal(await res.text(), BAD_TIMEOUT);
    }
  });

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
    // fetch() cannot set Host: use node:http directly.
    const { port } = new URL(rt.base);
    const body = await new Promise((resolveBody, reject) => {
      const req = http.get(
        { host: '127.0.0.1', port, path: '/h?z=1', headers: { host: 'fn.example.com', 'x-open-runtimes-secret': SECRET } },
        (res) => {
          let data = '';
          res.on('data', (d) => (data += d));
          res.on('end', () => resolveBody(JSON.parse(data)));
        },
      );
      req.on('error', reject);
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    });
    assert.equal(body.url, 'http://fn.example.com/h?z=1');
    assert.equal(body.port, 80);
  });

  test('native console output is captured with the notice line first', async () => {
    const logId = `native-${Date.now()}`;
    const res = await rt.call('/', { headers: { 'x-open-runtimes-log-id': logId } });
    assert.equal(res.status, 200);
    assert.equal(
      rt.readLog(logId, 'logs'),
      `${NATIVE_LOGS}\nesm says hi {"n":1}\nnative console output\nnative console error output\n`,
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

  test('res.text with status and headers; x-open-runtimes-* response headers dropped', async () => {
    const res = await rt.call('/text');
    assert.equal(res.status, 201);
    assert.equal(await res.text(), 'plain text');
    assert.equal(res.headers.get('x-custom'), 'custom-value');
    assert.equal(res.headers.get('x-open-runtimes-leak'), null);
    assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
  });

  test('res.binary, res.redirect, res.empty, res.send', async () => {
    const bin = await rt.call('/binary');
    assert.equal(bin.status, 200);
    assert.deepEqual([...new Uint8Array(await bin.arrayBuffer())], [0, 1, 2, 255]);
    assert.equal(bin.headers.get('content-type'), 'application/octet-stream; charset=utf-8');

    const redirect = await rt.call('/redirect');
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), 'https://example.com/target');

    const empty = await rt.call('/empty');
    assert.equal(empty.status, 204);

    const sent = await rt.call('/send');
    assert.equal(sent.status, 202);
    assert.equal(await sent.text(), 'sent body');
  });

  test('req.bodyJson / req.body and binary round trip', async () => {
    const json = await rt.call('/bodyjson', {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: '{"a":[1,2]}',
    });
    assert.deepEqual(await json.json(), { bodyJson: { a: [1, 2] }, body: { a: [1, 2] } });

    const bytes = Uint8Array.from([0, 159, 146, 150, 255, 10]);
    const echo = await rt.call('/binary-echo', { method: 'POST', body: bytes });
    assert.deepEqual([...new Uint8Array(await echo.arrayBuffer())], [...bytes]);
  });

  test('no return value => 500 with the spec message in errors', async () => {
    const logId = `none-${Date.now()}`;
    const res = await rt.call('/none', { headers: { 'x-open-runtimes-log-id': logId } });
    assert.equal(res.status, 500);
    assert.match(rt.readLog(logId, 'errors'), new RegExp(NO_RETURN.replace(/[.()]/g, '\\$&')));
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
