// Shared helpers of the docker-level runtime tests (not a test file itself): build and start runtime
// containers the way builder-worker / executor-worker do (docker create + cp + start), publish port
// 3000 on 127.0.0.1 only, and remove every container created (call cleanup() in after()).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURES = join(ROOT, 'tests/fixtures');
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const PREFIX = `fnplat-rtest-${process.pid}-${Date.now().toString(36)}`;
export const SECRET = 'test-secret-0123456789abcdef';
// The contract's exact messages (spec §7), the same for every runtime.
export const UNAUTHORIZED = 'Unauthorized. Provide correct "x-open-runtimes-secret" header.';
export const BAD_TIMEOUT = 'Header "x-open-runtimes-timeout" must be an integer greater than 0.';
export const NATIVE_LOGS = 'Native logs detected. Use context.log() or context.error() for better experience.';
export const NO_RETURN = 'Return statement missing. return context.res.empty() if no response is expected.';

const WORK = mkdtempSync(join(tmpdir(), 'fnplat-rtest-'));
const containers = new Set();
let seq = 0;

export function run(cmd, args, { input, timeoutMs = 300_000 } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? 128, signal, stdout, stderr });
    });
    if (input !== undefined) {
      // A process may exit before reading its input; that is its answer, not a test error.
      child.stdin.on('error', () => {});
      child.stdin.end(input);
    }
  });
}

export async function docker(...args) {
  const r = await run('docker', args);
  if (r.code !== 0) {
    throw new Error(`docker ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  }
  return r.stdout.trim();
}

async function packFixture(name, exclude) {
  const tarball = join(WORK, `${name}-${++seq}-source.tar.gz`);
  const excludes = exclude.map((pattern) => `--exclude=${pattern}`);
  const r = await run('tar', [...excludes, '-C', join(FIXTURES, name), '-czf', tarball, '.']);
  assert.equal(r.code, 0, r.stderr);
  return tarball;
}

// Builds like builder-worker: source uploaded at /tmp/code.tar.gz, output copied from /mnt/code.
// `exclude`: tar patterns of local leftovers in the fixture dir that must not be uploaded.
export async function buildFixture(image, name, commands, { entrypoint, env = {}, exclude = ['node_modules'] } = {}) {
  const source = await packFixture(name, exclude);
  const container = `${PREFIX}-build-${name}-${++seq}`;
  const envArgs = Object.entries({
    OPEN_RUNTIMES_ENTRYPOINT: entrypoint,
    NODE_EXTRA_CA_CERTS: CA_BUNDLE,
    npm_config_cafile: CA_BUNDLE,
    PIP_CERT: CA_BUNDLE,
    CI: 'true',
    ...env,
  }).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
  const cmd = `mkdir -p /mnt/code && tar -zxf /tmp/code.tar.gz -C /mnt/code && bash /usr/local/server/helpers/build.sh ${shellQuote(commands)}`;
  containers.add(container);
  await docker('create', '--name', container, '-v', `${CA_BUNDLE}:${CA_BUNDLE}:ro`, ...envArgs, image, 'bash', '-c', cmd);
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
export async function fetchWithTimeout(url, init = {}, ms = 30_000) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error(`fetch ${url} timed out after ${ms} ms`)), ms);
  try {
    const res = await fetch(url, { ...init, signal: controller.signal });
    const body = Buffer.from(await res.arrayBuffer());
    return {
      status: res.status,
      headers: res.headers,
      body,
      text: async () => body.toString('utf8'),
      json: async () => JSON.parse(body.toString('utf8')),
      arrayBuffer: async () => body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength),
    };
  } finally {
    clearTimeout(timer);
  }
}

function shellQuote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

// Starts like executor-worker: built archive uploaded as /mnt/code/code.tar.gz, logs dir bind-mounted.
export async function startRuntime(image, archive, { entrypoint, env = {} } = {}) {
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
    image, 'bash', '/usr/local/server/helpers/start.sh', 'bash /usr/local/server/helpers/server.sh');
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

// `docker run` of a one-off container (named, removed afterwards, also by cleanup() if interrupted).
export async function runContainer(image, ...args) {
  const name = `${PREFIX}-once-${++seq}`;
  containers.add(name);
  const r = await run('docker', ['run', '--name', name, image, ...args]);
  await run('docker', ['rm', '-f', name]);
  containers.delete(name);
  return r;
}

// Protocol checks every runtime passes alike (spec §7.4-7.5); `rt` comes from startRuntime().
export async function assertHealthAndTimings(rt) {
  const health = await rt.call('/__opr/health', { secret: null });
  assert.equal(health.status, 200);
  assert.equal(await health.text(), 'OK');
  const timings = await rt.call('/__opr/timings', { secret: null });
  assert.equal(timings.status, 200);
  assert.match(await timings.text(), /^startup=\d+(\.\d+)?\n/);
}

export async function assertSecretRequired(rt) {
  for (const secret of [null, 'wrong']) {
    const res = await rt.call('/', { secret });
    assert.equal(res.status, 500);
    assert.equal(await res.text(), UNAUTHORIZED);
  }
}

export async function assertBadTimeoutsRejected(rt) {
  for (const value of ['0', '-1', 'abc', '1.5']) {
    const res = await rt.call('/', { headers: { 'x-open-runtimes-timeout': value } });
    assert.equal(res.status, 500, `timeout ${value}`);
    assert.equal(await res.text(), BAD_TIMEOUT);
  }
}

// Without an x-open-runtimes-log-id header the runtime makes a unique one, returns it and logs under it.
export async function assertGeneratedLogIds(rt, fixture) {
  const res = await rt.call('/generated');
  assert.equal(res.status, 200);
  const logId = res.headers.get('x-open-runtimes-log-id');
  assert.ok(logId && logId.length >= 8, `log id: ${logId}`);
  assert.match(rt.readLog(decodeURIComponent(logId), 'logs'), new RegExp(`${fixture} called: GET /generated`));
  const second = (await rt.call('/generated')).headers.get('x-open-runtimes-log-id');
  assert.notEqual(second, logId, 'ids are unique');
}

export async function assertLoggingDisabled(rt) {
  const logId = `disabled-${Date.now()}`;
  const res = await rt.call('/quiet', {
    headers: { 'x-open-runtimes-logging': 'disabled', 'x-open-runtimes-log-id': logId },
  });
  assert.equal(res.status, 200);
  assert.equal(rt.readLog(logId, 'logs'), null);
  assert.equal(rt.readLog(logId, 'errors'), null);
}

// GET `path` with the Host header set to `host` (fetch() cannot set Host), with the secret; the JSON answer.
export function getJsonWithHost(rt, path, host) {
  const { port } = new URL(rt.base);
  return new Promise((resolveBody, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path, headers: { host, 'x-open-runtimes-secret': SECRET } },
      (res) => {
        let data = '';
        res.on('data', (d) => (data += d));
        res.on('end', () => {
          try {
            resolveBody(JSON.parse(data));
          } catch (err) {
            reject(new Error(`GET ${path} (Host: ${host}) answered ${res.statusCode} with no JSON: ${data}`, { cause: err }));
          }
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
  });
}

// Response kinds of the context fixtures (same routes in every language's fixture).
export async function assertTextResponse(rt) {
  const res = await rt.call('/text');
  assert.equal(res.status, 201);
  assert.equal(await res.text(), 'plain text');
  assert.equal(res.headers.get('x-custom'), 'custom-value');
  assert.equal(res.headers.get('x-open-runtimes-leak'), null, 'x-open-runtimes-* response headers are dropped');
  assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
}

// binary, redirect (302 with a location), empty (204, no body), send (202).
export async function assertResponseKinds(rt) {
  const bin = await rt.call('/binary');
  assert.equal(bin.status, 200);
  assert.deepEqual([...new Uint8Array(await bin.arrayBuffer())], [0, 1, 2, 255]);
  assert.equal(bin.headers.get('content-type'), 'application/octet-stream; charset=utf-8');

  const redirect = await rt.call('/redirect');
  assert.equal(redirect.status, 302);
  assert.equal(redirect.headers.get('location'), 'https://example.com/target');

  const empty = await rt.call('/empty');
  assert.equal(empty.status, 204);
  assert.equal(await empty.text(), '');

  const sent = await rt.call('/send');
  assert.equal(sent.status, 202);
  assert.equal(await sent.text(), 'sent body');
}

// A JSON body parsed (bodyJson / body_json and body) and a binary body echoed byte for byte.
export async function assertBodyRoundTrip(rt) {
  const json = await rt.call('/bodyjson', {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: '{"a":[1,2]}',
  });
  assert.deepEqual(await json.json(), { bodyJson: { a: [1, 2] }, body: { a: [1, 2] } });

  const bytes = Uint8Array.from([0, 159, 146, 150, 255, 10]);
  const echo = await rt.call('/binary-echo', { method: 'POST', body: bytes });
  assert.deepEqual([...new Uint8Array(await echo.arrayBuffer())], [...bytes]);
}

// The runtime env echoRequest() expects: a custom variable and an enforced header.
export const ECHO_ENV = {
  FNPLAT_TEST_VAR: 'from-env',
  OPEN_RUNTIMES_HEADERS: JSON.stringify({ 'X-Enforced': 'enforced-value' }),
};

export const ECHO_PATH = '/hello/world?x=1&y=abc&x=2&raw=a%20b';

// The echo request every runtime's context fixture answers alike: POST ECHO_PATH with a JSON body and
// headers the function must not see (x-open-runtimes-*) or sees overridden (x-enforced, set by
// OPEN_RUNTIMES_HEADERS=X-Enforced:enforced-value). Checks the common members, the `x-<fixture>: yes`
// response header and the two log files; returns the echo for the runtime's own checks.
export async function echoRequest(rt, fixture, { headers = {} } = {}) {
  const logId = `echo-${Date.now()}`;
  const res = await rt.call(ECHO_PATH, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-custom-header': 'custom-value',
      'x-enforced': 'overridden-by-env',
      'x-open-runtimes-log-id': logId,
      'x-open-runtimes-timeout': '10',
      'x-open-runtimes-something': 'hidden',
      ...headers,
    },
    body: JSON.stringify({ hello: 'world' }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.equal(res.headers.get(`x-${fixture}`), 'yes');
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
  assert.equal(echo.host, '127.0.0.1');
  assert.equal(rt.readLog(logId, 'logs'),
    `${fixture} called: POST /hello/world\n{"query":{"x":"1","y":"abc","raw":"a%20b"}}\n`);
  assert.equal(rt.readLog(logId, 'errors'), `${fixture} error channel check\n`);
  return echo;
}

/** Builds the images (no-op when up to date) or, with FNPLAT_SKIP_IMAGE_BUILD=1, requires them. */
export async function ensureImages(ids) {
  if (process.env.FNPLAT_SKIP_IMAGE_BUILD === '1') {
    for (const id of ids) {
      const r = await run('docker', ['image', 'inspect', `fnplat/runtime-${id}:latest`]);
      assert.equal(r.code, 0, `image of ${id} missing: run scripts/build-images.sh`);
    }
    return;
  }
  const r = await run('bash', [join(ROOT, 'scripts/build-images.sh'), ...ids], { timeoutMs: 1_800_000 });
  assert.equal(r.code, 0, `scripts/build-images.sh failed:\n${r.stderr}\n${r.stdout}`);
}

export async function cleanup() {
  if (containers.size > 0) await run('docker', ['rm', '-f', ...containers]);
  rmSync(WORK, { recursive: true, force: true });
}
