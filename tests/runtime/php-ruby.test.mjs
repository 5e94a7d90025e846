// Runtime image tests: fnplat/runtime-{php-8.2,php-8.4,ruby-3.1,ruby-3.3} against the open-runtimes v5
// contract (spec §7.4-7.8, §9), the same way tests/runtime/node-runtime.test.mjs checks node-18.0.
//
//   node --test tests/runtime/php-ruby.test.mjs
//
// Needs the docker CLI and a running engine; runs scripts/build-images.sh for the four ids first (a
// no-op when the images are up to date; FNPLAT_SKIP_IMAGE_BUILD=1 only requires that they exist).
// Builds and starts containers the way builder-worker / executor-worker do (docker create + cp +
// start, CA bundle mounted for builds), publishes port 3000 on 127.0.0.1 only, and removes every
// container it created. FNPLAT_PHP_RUBY_RUNTIMES=php-8.4,ruby-3.3 narrows the runtimes under test.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as h from './harness.mjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// Local leftovers of `composer install` / `bundle install` in the fixture dirs are never uploaded.
const FIXTURE_EXCLUDES = ['./vendor/bundle', './vendor/autoload.php', './vendor/composer', './.bundle', 'Gemfile.lock', 'composer.lock'];
const buildFixture = (image, name, commands, options = {}) =>
  h.buildFixture(image, name, commands, { exclude: FIXTURE_EXCLUDES, ...options });

const PHP_SIGNATURE = 'Function signature invalid. Did you forget to return a function from the entrypoint file?';
const RUBY_SIGNATURE = "Function signature invalid. Did you forget to export a 'main' function?";

// Per runtime: Debian's language version (checked against the image), fixtures and entrypoints.
const LANGS = {
  php: {
    entry: 'index.php',
    context: 'php-context',
    badSignature: 'php-bad-signature',
    badSignatureMessage: PHP_SIGNATURE,
    deps: { fixture: 'php-deps', entry: 'src/main.php', command: 'composer install' },
    versionCommand: ['php', '-r', 'echo PHP_VERSION;'],
    emptyQuery: {}, // the fixture logs (object) $req->query
    throwPattern: /RuntimeException: php-context was asked to throw in \/usr\/local\/server\/src\/function\/index\.php:\d+\nStack trace:\n#0 /,
    nativeLines: ['native echo output', 'native print continued'],
  },
  ruby: {
    entry: 'index.rb',
    context: 'ruby-context',
    badSignature: 'ruby-bad-signature',
    badSignatureMessage: RUBY_SIGNATURE,
    deps: { fixture: 'ruby-deps', entry: 'index.rb', command: 'bundle install --local --no-cache' },
    versionCommand: ['ruby', '-e', 'print RUBY_VERSION'],
    emptyQuery: {},
    throwPattern: /index\.rb:\d+:in .main.: ruby-context was asked to throw \(ArgumentError\)\n[\s\S]*\tfrom /, // 3.3 adds error_highlight lines
    nativeLines: ['native echo output', 'native print continued'],
  },
};
const RUNTIMES = [
  { id: 'php-8.2', lang: 'php', version: /^8\.2\./ },
  { id: 'php-8.4', lang: 'php', version: /^8\.4\./ },
  { id: 'ruby-3.1', lang: 'ruby', version: /^3\.1\./ },
  { id: 'ruby-3.3', lang: 'ruby', version: /^3\.3\./ },
].filter((r) => !process.env.FNPLAT_PHP_RUBY_RUNTIMES || process.env.FNPLAT_PHP_RUBY_RUNTIMES.split(',').includes(r.id));

const imageOf = (id) => `fnplat/runtime-${id}:latest`;
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

before(() => h.ensureImages(RUNTIMES.map((r) => r.id)));
after(h.cleanup);

test('php-8.4 and ruby-3.3 reuse the php-8.2 and ruby-3.1 sources (runtime.env SOURCE=)', () => {
  for (const [a, b] of [['php-8.2', 'php-8.4'], ['ruby-3.1', 'ruby-3.3']]) {
    const env = readFileSync(join(h.ROOT, 'deploy/runtimes', b, 'runtime.env'), 'utf8');
    assert.match(env, new RegExp(`^SOURCE=${a.replace('.', '\\.')}$`, 'm'));
    assert.match(env, /^SUITE=trixie$/m);
  }
});

for (const runtime of RUNTIMES) {
  const L = LANGS[runtime.lang];
  const IMAGE = imageOf(runtime.id);

  describe(`${runtime.id}`, () => {
    test(`ships Debian's ${runtime.lang} ${runtime.version.source.slice(1, -2).replace('\\', '')}`, async () => {
      const r = await h.runContainer(IMAGE, ...L.versionCommand);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.trim(), runtime.version);
    });

    test(`build: ${L.deps.command} installs the third-party package into the function`, { timeout: 300_000 }, async () => {
      const t0 = performance.now();
      const b = await buildFixture(IMAGE, L.deps.fixture, L.deps.command, { entrypoint: L.deps.entry });
      const seconds = ((performance.now() - t0) / 1000).toFixed(1);
      assert.equal(b.code, 0, `build failed:\n${b.stdout}\n${b.stderr}`);
      console.log(`# ${runtime.id}: ${L.deps.fixture} build (${L.deps.command}) took ${seconds} s`);
      const list = await h.run('tar', ['-tzf', b.archive]);
      assert.equal(list.code, 0);
      if (runtime.lang === 'php') {
        assert.match(list.stdout, /\.\/vendor\/autoload\.php/);
        assert.match(list.stdout, /\.\/vendor\/webmozart\/assert\/src\/Assert\.php/);
      } else {
        assert.match(list.stdout, /\.\/vendor\/bundle\/ruby\/[\d.]+\/gems\/mustermann-3\.0\.0\/lib\/mustermann\.rb/);
      }
      const meta = await h.run('tar', ['-xzOf', b.archive, './.open-runtimes']);
      assert.match(meta.stdout, new RegExp(`^OPEN_RUNTIMES_ENTRYPOINT=${escapeRe(L.deps.entry)}$`, 'm'));

      const rt = await h.startRuntime(IMAGE, b.archive, { entrypoint: L.deps.entry });
      if (runtime.lang === 'php') {
        const ok = await rt.call('/?n=12', { headers: { 'x-open-runtimes-log-id': 'deps-ok' } });
        assert.equal(ok.status, 200);
        const body = await ok.json();
        assert.equal(body.integerish, true);
        assert.equal(body.assertFile, '/usr/local/server/src/function/vendor/webmozart/assert/src/Assert.php');
        const bad = await rt.call('/?n=abc', { headers: { 'x-open-runtimes-log-id': 'deps-bad' } });
        assert.equal((await bad.json()).integerish, false);
        assert.equal(rt.readLog('deps-bad', 'errors'), 'Expected an integerish value. Got: string\n');
        assert.equal(rt.readLog('deps-ok', 'logs'), 'checked 12\n');
      } else {
        const ok = await rt.call('/users/42', { headers: { 'x-open-runtimes-log-id': 'deps-ok' } });
        assert.equal(ok.status, 200);
        const body = await ok.json();
        assert.deepEqual(body.params, { id: '42' });
        assert.equal(body.version, '3.0.0');
        assert.match(body.gemPath, /^\/usr\/local\/server\/src\/function\/vendor\/bundle\/ruby\/[\d.]+\/gems\/mustermann-3\.0\.0$/);
        assert.equal(rt.readLog('deps-ok', 'logs'), 'matched /users/42: {"id"=>"42"}\n');
      }
    });

    test('a failing build command exits with its code and keeps its output', { timeout: 120_000 }, async () => {
      const b = await buildFixture(IMAGE, L.context, 'echo building; echo oops >&2; exit 3', { entrypoint: L.entry });
      assert.equal(b.code, 3);
      assert.match(b.stdout, /building/);
      assert.match(b.stderr, /oops/);
      assert.match(b.stderr, /Build command exited with code 3\./);
      assert.equal(b.archive, null);
    });

    describe(`${L.context} (protocol and context API)`, () => {
      let rt;
      before(async () => {
        const b = await buildFixture(IMAGE, L.context, '', { entrypoint: L.entry });
        assert.equal(b.code, 0, b.stdout + b.stderr);
        rt = await h.startRuntime(IMAGE, b.archive, { entrypoint: L.entry, env: h.ECHO_ENV });
      });

      test('GET /__opr/health answers 200 OK without the secret; /__opr/timings reports startup', () =>
        h.assertHealthAndTimings(rt));

      test('missing or wrong secret => 500 with the exact message', () => h.assertSecretRequired(rt));

      test('echoes method, path, query, headers, body, url; logs go to the log files', async () => {
        const echo = await h.echoRequest(rt, L.context);
        assert.equal(echo.bodyRaw, '{"hello":"world"}');
        assert.equal(echo.bodyBinaryLength, 17);
        for (const key of Object.keys(echo.headers)) assert.equal(key, key.toLowerCase());
        assert.equal(echo.scheme, 'http');
        assert.equal(echo.port, Number(new URL(rt.base).port));
        assert.equal(echo.url, `${rt.base}/hello/world?x=1&y=abc&x=2&raw=a%20b`);
        assert.deepEqual(echo.env, { entrypoint: L.entry, custom: 'from-env' });
      });

      test('x-forwarded-proto and the host header drive scheme, host, port and url', async () => {
        const https = await (await rt.call('/s?q=1', { headers: { 'x-forwarded-proto': 'https' } })).json();
        assert.equal(https.scheme, 'https');
        assert.equal(https.url, `${rt.base.replace('http:', 'https:')}/s?q=1`);
        const body = await h.getJsonWithHost(rt, '/h?z=1', 'fn.example.com');
        assert.equal(body.url, 'http://fn.example.com/h?z=1');
        assert.equal(body.host, 'fn.example.com');
        assert.equal(body.port, 80);
        assert.deepEqual(body.query, { z: '1' });
      });

      test('without a log id header the runtime generates unique ones', () => h.assertGeneratedLogIds(rt, L.context));

      test('x-open-runtimes-logging: disabled writes no log files', () => h.assertLoggingDisabled(rt));

      test('invalid x-open-runtimes-timeout => 500 with the exact message', () => h.assertBadTimeoutsRejected(rt));

      test('an exception => 500, trace in errors, default text/plain content type', async () => {
        const logId = `throw-${Date.now()}`;
        const res = await rt.call('/throw', { headers: { 'x-open-runtimes-log-id': logId } });
        assert.equal(res.status, 500);
        assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
        const errors = rt.readLog(logId, 'errors');
        assert.ok(errors.startsWith(`${L.context} error channel check\n`), errors);
        assert.match(errors, L.throwPattern);
        assert.match(rt.readLog(logId, 'logs'), new RegExp(`${L.context} called: GET /throw`));
      });

      test('x-open-runtimes-timeout: 1 => 500 "Execution timed out." and the server keeps serving', async () => {
        const logId = `slow-${Date.now()}`;
        const res = await rt.call('/slow', { headers: { 'x-open-runtimes-timeout': '1', 'x-open-runtimes-log-id': logId } });
        assert.equal(res.status, 500);
        assert.equal(rt.readLog(logId, 'errors'), `${L.context} error channel check\nExecution timed out.\n`);
        assert.doesNotMatch(rt.readLog(logId, 'logs'), /woke up/);
        const ok = await rt.call('/slow?ms=10', { headers: { 'x-open-runtimes-timeout': '5' } });
        assert.equal(ok.status, 200);
        assert.equal(await ok.text(), 'slept 10 ms');
      });

      test('no return value => 500 with the spec message in errors', async () => {
        const logId = `none-${Date.now()}`;
        const res = await rt.call('/none', { headers: { 'x-open-runtimes-log-id': logId } });
        assert.equal(res.status, 500);
        assert.equal(rt.readLog(logId, 'errors'), `${L.context} error channel check\n${h.NO_RETURN}\n`);
      });

      test('native output is captured in order with the notice line first', async () => {
        const logId = `native-${Date.now()}`;
        const res = await rt.call('/native', { headers: { 'x-open-runtimes-log-id': logId } });
        assert.equal(res.status, 200);
        assert.equal(await res.text(), 'native done');
        assert.equal(
          rt.readLog(logId, 'logs'),
          [h.NATIVE_LOGS, `${L.context} called: GET /native`, `{"query":${JSON.stringify(L.emptyQuery)}}`,
            ...L.nativeLines, 'after native', ''].join('\n'),
        );
        if (runtime.lang === 'ruby') {
          const warnId = `warn-${Date.now()}`;
          assert.equal((await rt.call('/native-warn', { headers: { 'x-open-runtimes-log-id': warnId } })).status, 200);
          assert.equal(rt.readLog(warnId, 'logs'), [h.NATIVE_LOGS, `${L.context} called: GET /native-warn`, '{"query":{}}',
            'native warn output', 'native stderr output', ''].join('\n'));
        }
        // context.log only: no notice
        const plain = `plain-${Date.now()}`;
        await rt.call('/send', { headers: { 'x-open-runtimes-log-id': plain } });
        assert.ok(!rt.readLog(plain, 'logs').includes(h.NATIVE_LOGS));
      });

      test('res.json with headers; a log call longer than 8000 characters is truncated', async () => {
        const json = await rt.call('/json');
        assert.equal(json.status, 200);
        assert.deepEqual(await json.json(), { kind: 'json', list: [1, 2], nested: { ok: true } });
        assert.equal(json.headers.get('x-json'), 'yes');
        assert.equal(json.headers.get('content-type'), 'application/json; charset=utf-8');
        const logId = `big-${Date.now()}`;
        const big = await rt.call('/big-log', { headers: { 'x-open-runtimes-log-id': logId } });
        assert.equal(await big.text(), 'logged');
        const lines = rt.readLog(logId, 'logs').split('\n');
        assert.equal(lines.length, 2 + 2600 + 1);
        assert.equal(lines[2], `00000 ${'x'.repeat(7994)}... Log truncated due to size limit (8000 characters)`);
      });

      test('res.text with status and headers; x-open-runtimes-* response headers dropped', () => h.assertTextResponse(rt));

      test('res.binary, res.redirect (default 301), res.empty, res.send', async () => {
        await h.assertResponseKinds(rt);
        const permanent = await rt.call('/redirect-default');
        assert.equal(permanent.status, 301);
        assert.equal(permanent.headers.get('location'), 'https://example.com/default');
      });

      test('body_json/bodyJson, body, binary round trip, HEAD', async () => {
        await h.assertBodyRoundTrip(rt);

        const big = Buffer.alloc(3 * 1024 * 1024, 7);
        const bigEcho = await rt.call('/binary-echo', { method: 'PUT', body: big });
        assert.equal(bigEcho.status, 200);
        assert.ok(Buffer.compare(bigEcho.body, big) === 0, 'a 3 MiB body round-trips');

        const text = await rt.call('/', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'just text' });
        assert.equal((await text.json()).body, 'just text');

        const head = await rt.call('/text', { method: 'HEAD' });
        assert.equal(head.status, 201);
        assert.equal(head.body.length, 0);
      });

      test('concurrent executions keep their logs apart', async () => {
        const ids = Array.from({ length: 12 }, (_, i) => `conc-${Date.now()}-${i}`);
        const results = await Promise.all(ids.map((id) => rt.call(`/c${id.slice(-3)}`, { headers: { 'x-open-runtimes-log-id': id } })));
        for (const [i, id] of ids.entries()) {
          assert.equal(results[i].status, 200);
          assert.equal(rt.readLog(id, 'logs'), `${L.context} called: GET /c${id.slice(-3)}\n{"query":${JSON.stringify(L.emptyQuery)}}\n`);
          assert.equal(rt.readLog(id, 'errors'), `${L.context} error channel check\n`);
        }
      });
    });

    describe('failure modes', () => {
      test('missing entrypoint file => 503 and the spec error', { timeout: 120_000 }, async () => {
        const b = await buildFixture(IMAGE, L.context, '', { entrypoint: 'missing.file' });
        assert.equal(b.code, 0, b.stdout + b.stderr);
        const rt = await h.startRuntime(IMAGE, b.archive, { entrypoint: 'missing.file' });
        const res = await rt.call('/', { headers: { 'x-open-runtimes-log-id': 'missing-1' } });
        assert.equal(res.status, 503);
        assert.equal(rt.readLog('missing-1', 'errors'), 'Failed to load entrypoint, file missing.file does not exist.\n');
      });

      test('an entry file without a function => 503 and the signature error', { timeout: 120_000 }, async () => {
        const b = await buildFixture(IMAGE, L.badSignature, '', { entrypoint: L.entry });
        assert.equal(b.code, 0, b.stdout + b.stderr);
        const rt = await h.startRuntime(IMAGE, b.archive, { entrypoint: L.entry });
        const res = await rt.call('/', { headers: { 'x-open-runtimes-log-id': 'sig-1' } });
        assert.equal(res.status, 503);
        assert.equal(rt.readLog('sig-1', 'errors'), `${L.badSignatureMessage}\n`);
      });
    });
  });
}
