// Latency benchmark of the hot path, reported as ratios against a floor measured in the same run.
//
// The floor is a direct HTTP call to the same warm runtime container (what the executor itself
// does); the measured path is a synchronous execution through the REST API (gateway -> RabbitMQ ->
// executor -> container -> back). Also reported: the cold start (first execution after activation)
// and the resident memory of each service. Nothing here asserts a wall-clock limit.
//
// Env: E2E_ENDPOINT, E2E_PROJECT, E2E_KEY (set by scripts/bench.sh), BENCH_N (default 200).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const endpoint = process.env.E2E_ENDPOINT;
const project = process.env.E2E_PROJECT;
const key = process.env.E2E_KEY;
const N = Number(process.env.BENCH_N || 200);
if (!endpoint || !project || !key) {
  console.error('E2E_ENDPOINT, E2E_PROJECT and E2E_KEY must be set (run `make bench`)');
  process.exit(2);
}
const headers = { 'x-appwrite-project': project, 'x-appwrite-key': key };

async function api(method, path, body) {
  const init = { method, headers: { ...headers } };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(endpoint + path, init);
  const text = await res.text();
  const json = text ? JSON.parse(text) : {};
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return json;
}

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { n: s.length, p50: q(0.5), p95: q(0.95), max: s[s.length - 1] };
}
const ms = (x) => `${x.toFixed(2)} ms`;

const fixture = resolve('tests/fixtures/node-hello');
const dir = mkdtempSync(join(tmpdir(), 'fnplat-bench-'));
const tarball = join(dir, 'code.tar.gz');
execFileSync('tar', ['-czf', tarball, '--exclude=node_modules', '-C', fixture, '.']);

const functionId = `bench-${Date.now()}`;
await api('POST', '/functions', {
  functionId, name: 'bench', runtime: 'node-18.0', entrypoint: 'index.js', commands: 'npm install', timeout: 15,
});
const form = new FormData();
form.append('code', new Blob([readFileSync(tarball)]), 'code.tar.gz');
form.append('activate', 'true');
let t = performance.now();
let dep = await api('POST', `/functions/${functionId}/deployments`, form);
while (!['ready', 'failed', 'canceled'].includes(dep.status)) {
  await new Promise((r) => setTimeout(r, 250));
  dep = await api('GET', `/functions/${functionId}/deployments/${dep.$id}`);
}
const buildMs = performance.now() - t;
if (dep.status !== 'ready') throw new Error(`build ${dep.status}: ${dep.buildLogs}`);
for (let i = 0; i < 200; i++) {
  const fn = await api('GET', `/functions/${functionId}`);
  if (fn.deploymentId === dep.$id) break;
  await new Promise((r) => setTimeout(r, 100));
}

const execBody = { body: 'ping', path: '/bench?x=1', method: 'POST', async: false };
t = performance.now();
const first = await api('POST', `/functions/${functionId}/executions`, execBody);
const coldMs = performance.now() - t;
if (first.status !== 'completed') throw new Error(`cold execution ${first.status}: ${first.errors}`);

// The warm container the executor just started.
const cid = execFileSync('docker', ['ps', '-q', '--filter', `label=fnplat.deployment=${dep.$id}`]).toString().trim().split('\n')[0];
if (!cid) throw new Error('no warm runtime container found');
const port = execFileSync('docker', ['port', cid, '3000/tcp']).toString().trim().split('\n')[0].split(':').pop();
const env = execFileSync('docker', ['inspect', '-f', '{{range .Config.Env}}{{println .}}{{end}}', cid]).toString();
const secret = (env.split('\n').find((l) => l.startsWith('OPEN_RUNTIMES_SECRET=')) || '').slice('OPEN_RUNTIMES_SECRET='.length);

async function direct() {
  const res = await fetch(`http://127.0.0.1:${port}/bench?x=1`, {
    method: 'POST',
    body: 'ping',
    headers: { 'x-open-runtimes-secret': secret, 'x-open-runtimes-timeout': '15', 'x-open-runtimes-logging': 'enabled' },
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`direct call: ${res.status}`);
}
async function viaApi() {
  const e = await api('POST', `/functions/${functionId}/executions`, execBody);
  if (e.status !== 'completed') throw new Error(`execution ${e.status}`);
}
// The two series run interleaved in blocks of 20 so machine noise hits both alike.
async function measureBoth() {
  for (let i = 0; i < 10; i++) { await direct(); await viaApi(); } // warm-up
  const floorSamples = [];
  const hotSamples = [];
  for (let done = 0; done < N; done += 20) {
    for (const [fn, out] of [[direct, floorSamples], [viaApi, hotSamples]]) {
      for (let i = 0; i < Math.min(20, N - done); i++) {
        const s = performance.now();
        await fn();
        out.push(performance.now() - s);
      }
    }
  }
  return [stats(floorSamples), stats(hotSamples)];
}
const [floor, hot] = await measureBoth();

function rssKb(pidFile) {
  if (!existsSync(pidFile)) return null;
  const pid = readFileSync(pidFile, 'utf8').trim();
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number((status.match(/VmRSS:\s+(\d+)/) || [])[1]);
  } catch { return null; }
}
const runDir = process.env.BENCH_RUN_DIR || '/run/fnplat/e2e';
const memory = Object.fromEntries(['api-gateway', 'builder-worker', 'executor-worker', 'scheduler']
  .map((s) => [s, rssKb(join(runDir, `${s}.pid`))]));

console.log('\n== fnplat bench ==');
console.log(`build of tests/fixtures/node-hello (npm install): ${ms(buildMs)}`);
console.log(`cold start (first sync execution, client wall time): ${ms(coldMs)}`);
console.log(`floor: direct HTTP to the warm runtime container: p50 ${ms(floor.p50)}  p95 ${ms(floor.p95)}  (n=${floor.n})`);
console.log(`warm sync execution through the API:            p50 ${ms(hot.p50)}  p95 ${ms(hot.p95)}  (n=${hot.n})`);
console.log(`ratio API/floor: p50 ${(hot.p50 / floor.p50).toFixed(2)}x  p95 ${(hot.p95 / floor.p95).toFixed(2)}x`);
console.log(`cold start / warm p50: ${(coldMs / hot.p50).toFixed(1)}x`);
for (const [svc, kb] of Object.entries(memory)) console.log(`RSS ${svc}: ${kb === null ? 'n/a' : `${(kb / 1024).toFixed(1)} MiB`}`);

await api('DELETE', `/functions/${functionId}`);
