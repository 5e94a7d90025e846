// End-to-end: the sandbox of runtime containers, probed from inside a deployed function
// (tests/fixtures/node-probe), binary request/response bodies through the API (spec 7.6) and
// large log output (spec 7.3).
//
// Env: E2E_ENDPOINT, E2E_PROJECT, E2E_KEY (see functions.test.mjs).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, ExecutionMethod, Functions, ID } from 'node-appwrite';
import { InputFile } from 'node-appwrite/file';

const ENDPOINT = process.env.E2E_ENDPOINT ?? 'http://127.0.0.1:18080/v1';
const PROJECT = process.env.E2E_PROJECT ?? 'e2e';
const KEY = process.env.E2E_KEY ?? '';
const FIXTURE = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/node-probe');
const BUILD_TIMEOUT_MS = 5 * 60_000;

const client = new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setKey(KEY);
const functions = new Functions(client);
const work = mkdtempSync(join(tmpdir(), 'fnplat-e2e-sandbox-'));
const created = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let fn; // the deployed probe function

async function deploy() {
  const f = await functions.create({
    functionId: ID.unique(),
    name: 'e2e sandbox probe',
    runtime: 'node-18.0',
    entrypoint: 'index.js',
    commands: 'npm install',
    timeout: 30,
  });
  created.push(f.$id);
  const tarball = join(work, 'probe.tar.gz');
  execFileSync('tar', ['-czf', tarball, '-C', FIXTURE, '.']);
  const deployment = await functions.createDeployment({
    functionId: f.$id,
    code: InputFile.fromPath(tarball, 'code.tar.gz'),
    activate: false,
  });
  const deadline = Date.now() + BUILD_TIMEOUT_MS;
  let dep = deployment;
  while (!['ready', 'failed', 'canceled'].includes(dep.status)) {
    assert.ok(Date.now() < deadline, `build still ${dep.status}`);
    await sleep(1000);
    dep = await functions.getDeployment({ functionId: f.$id, deploymentId: deployment.$id });
  }
  assert.equal(dep.status, 'ready', `build logs:\n${dep.buildLogs}`);
  await functions.updateFunctionDeployment({ functionId: f.$id, deploymentId: dep.$id });
  return f;
}

/** A GET probe through the SDK; returns the parsed JSON body of a completed execution. */
async function probe(path) {
  const ex = await functions.createExecution({
    functionId: fn.$id,
    xpath: path,
    method: ExecutionMethod.GET,
  });
  assert.equal(ex.status, 'completed', `${path}: ${ex.errors}`);
  assert.equal(ex.responseStatusCode, 200, `${path}: ${ex.responseBody}`);
  return JSON.parse(ex.responseBody);
}

async function platformHealthy() {
  const root = ENDPOINT.replace(/\/v1\/?$/, '');
  const res = await fetch(`${root}/health/readyz`);
  assert.equal(res.status, 200, `gateway readyz: ${await res.text()}`);
  const ok = await probe('/');
  assert.equal(ok.ok, true);
}

/** createExecution as multipart/form-data with a binary `body` part. */
async function multipartExecution(body, accept) {
  const form = new FormData();
  form.append('body', new Blob([body]));
  form.append('path', '/binary');
  form.append('method', 'POST');
  form.append('async', 'false');
  form.append('headers', JSON.stringify({ 'content-type': 'application/octet-stream' }));
  return fetch(`${ENDPOINT}/functions/${fn.$id}/executions`, {
    method: 'POST',
    headers: { 'x-appwrite-project': PROJECT, 'x-appwrite-key': KEY, accept },
    body: form,
  });
}

/** The parts of a multipart body: name -> raw bytes. */
function parseMultipart(buffer, contentType) {
  const boundary = /boundary=("?)([^";]+)\1/.exec(contentType)?.[2];
  assert.ok(boundary, `boundary in ${contentType}`);
  const delimiter = Buffer.from(`--${boundary}`);
  const parts = {};
  let at = buffer.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (buffer.subarray(start, start + 2).toString() === '--') break;
    const next = buffer.indexOf(delimiter, start);
    assert.notEqual(next, -1, 'closing delimiter');
    const part = buffer.subarray(start + 2, next - 2); // skip CRLF after delimiter / before next
    const split = part.indexOf('\r\n\r\n');
    const head = part.subarray(0, split).toString();
    const name = /name="([^"]*)"/.exec(head)?.[1];
    parts[name] = part.subarray(split + 4);
    at = next;
  }
  return parts;
}

before(async () => {
  assert.ok(KEY, 'E2E_KEY is set');
  fn = await deploy();
});

after(async () => {
  for (const functionId of created) {
    await functions.delete({ functionId }).catch(() => {});
  }
  rmSync(work, { recursive: true, force: true });
});

describe('sandbox probes from inside a function', () => {
  test('runs as an unprivileged user with no capabilities', async () => {
    const id = await probe('/identity');
    assert.equal(id.uid, 1000);
    assert.equal(id.capEff, '0000000000000000');
    assert.equal(id.noNewPrivs, '1');
    assert.equal(id.pidsMax, '256');
    assert.equal(id.dockerSocket, false);
  });

  test('writing outside /tmp fails, /tmp works', async () => {
    const w = await probe('/write');
    assert.equal(w.root, 'EROFS');
    assert.equal(w.etc, 'EROFS');
    assert.equal(w.server, 'EROFS');
    assert.equal(w.tmp, 'ok');
    assert.equal(w.tmpRead, 'probe');
  });

  test('PostgreSQL, RabbitMQ and the Docker API are unreachable', async () => {
    const n = await probe('/network');
    for (const target of [
      'loopback:5432',
      'loopback:5672',
      'gateway:5432',
      'gateway:5672',
      'gateway:2375',
      'docker0:5432',
      'docker0:5672',
      'docker.sock',
    ]) {
      assert.ok(n[target] !== undefined, `${target} probed: ${JSON.stringify(n)}`);
      assert.notEqual(n[target], 'open', `${target} must be unreachable: ${JSON.stringify(n)}`);
    }
  });

  test('a fork bomb is contained by the pids limit; the platform stays healthy', async () => {
    const bomb = await probe('/forkbomb?seconds=3');
    assert.equal(bomb.limit, '256');
    assert.ok(bomb.peak > 0 && bomb.peak <= 256, `peak pids ${bomb.peak}`);
    assert.equal(bomb.blocked, true, 'fork failed with EAGAIN inside the container');
    await platformHealthy();
  });

  test('exceeding the memory limit fails only that execution', async () => {
    const ex = await functions.createExecution({
      functionId: fn.$id,
      xpath: '/memory',
      method: ExecutionMethod.GET,
    });
    assert.equal(ex.status, 'failed', `memory hog: ${ex.responseBody}`);
    assert.equal(ex.responseStatusCode, 500);
    assert.match(ex.errors, /Error Code: 500/);
    await platformHealthy();
  });
});

describe('binary bodies (spec 7.6)', () => {
  test('multipart in, multipart out: byte-exact round trip', async () => {
    const payload = Buffer.concat([Buffer.from([0x00, 0xff, 0xc3, 0x28, 0x0d, 0x0a]), randomBytes(4096)]);
    const res = await multipartExecution(payload, 'multipart/form-data');
    const buffer = Buffer.from(await res.arrayBuffer());
    assert.equal(res.status, 201, buffer.toString());
    const contentType = res.headers.get('content-type');
    assert.match(contentType, /^multipart\/form-data; boundary=/);
    const parts = parseMultipart(buffer, contentType);
    assert.equal(parts.status.toString(), 'completed', parts.errors?.toString());
    assert.equal(parts.responseStatusCode.toString(), '200');
    assert.equal(parts.$id.toString(), res.headers.get('x-appwrite-execution-id'));
    const expected = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00]), payload]);
    assert.ok(parts.responseBody.equals(expected), `responseBody is byte-exact (${parts.responseBody.length} vs ${expected.length} bytes)`);
    assert.ok(Array.isArray(JSON.parse(parts.responseHeaders.toString())));
  });

  test('Accept: application/json with a binary response => 400 Failed to parse response', async () => {
    const res = await multipartExecution(Buffer.from([1, 2, 3]), 'application/json');
    const body = await res.json();
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(body.message, /Failed to parse response/);
  });

  test('HEAD => empty responseBody; SDK JSON calls keep working', async () => {
    const head = await functions.createExecution({ functionId: fn.$id, xpath: '/', method: ExecutionMethod.HEAD });
    assert.equal(head.status, 'completed', head.errors);
    assert.equal(head.responseBody, '');
    const ex = await functions.createExecution({ functionId: fn.$id, body: 'hi', xpath: '/x', method: ExecutionMethod.POST });
    assert.deepEqual(JSON.parse(ex.responseBody), { ok: true, path: '/x' });
  });
});

describe('large outputs (spec 7.3)', () => {
  test('20 MB of logs: the execution completes, logs are capped with the tail kept', async () => {
    const ex = await functions.createExecution({ functionId: fn.$id, xpath: '/logs?mb=20', method: ExecutionMethod.GET });
    assert.equal(ex.status, 'completed', ex.errors);
    assert.match(ex.responseBody, /^logged \d+$/);
    assert.ok(ex.logs.startsWith('[WARNING] Logs truncated. The output exceeded 1000000 characters.\n'), ex.logs.slice(0, 200));
    assert.ok(ex.logs.length <= 1_000_000 + 100, `stored logs ${ex.logs.length} chars`);
    assert.match(ex.logs, /Log file has been truncated/);
    const stored = await functions.getExecution({ functionId: fn.$id, executionId: ex.$id });
    assert.equal(stored.status, 'completed');
    assert.equal(stored.logs.length, ex.logs.length);
    await platformHealthy();
  });
});
