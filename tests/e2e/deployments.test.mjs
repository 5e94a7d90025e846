// End-to-end: deployments through the official node-appwrite SDK against a running stack:
// a chunked (5 MiB) upload over 12 MiB that builds and runs, download with and without Range,
// cancel of a running build, duplicate, delete, template and VCS deployments from a git
// repository this test creates (file:// URL), and the error cases.
//
// Env: E2E_ENDPOINT, E2E_PROJECT, E2E_KEY (see functions.test.mjs).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppwriteException, Client, Functions, ID } from 'node-appwrite';
import { InputFile } from 'node-appwrite/file';

const ENDPOINT = process.env.E2E_ENDPOINT ?? 'http://127.0.0.1:18080/v1';
const PROJECT = process.env.E2E_PROJECT ?? 'e2e';
const KEY = process.env.E2E_KEY ?? '';
const BUILD_TIMEOUT_MS = 5 * 60_000;

const client = new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setKey(KEY);
const functions = new Functions(client);
const work = mkdtempSync(join(tmpdir(), 'fnplat-e2e-deployments-'));
const created = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A function whose code reports the size of a large file packed next to it.
const SIZE_FN = `const fs = require('fs');
const path = require('path');
module.exports = async ({ res }) => res.json({
  blob: fs.statSync(path.join(__dirname, 'blob.bin')).size,
  version: fs.readFileSync(path.join(__dirname, 'version.txt'), 'utf8').trim(),
});
`;

function pack(dir, name) {
  const out = join(work, name);
  execFileSync('tar', ['-czf', out, '-C', dir, '.']);
  return out;
}

function git(dir, ...args) {
  return execFileSync('git', ['-C', dir, ...args], {
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 'E2E Author',
      GIT_AUTHOR_EMAIL: 'e2e@example.com',
      GIT_COMMITTER_NAME: 'E2E Author',
      GIT_COMMITTER_EMAIL: 'e2e@example.com',
    },
  })
    .toString()
    .trim();
}

async function raw(method, path, { headers = {}, body } = {}) {
  const res = await fetch(ENDPOINT + path, {
    method,
    headers: { 'x-appwrite-project': PROJECT, 'x-appwrite-key': KEY, ...headers },
    body,
  });
  const buf = Buffer.from(await res.arrayBuffer());
  let json;
  try {
    json = JSON.parse(buf.toString());
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, buf, json };
}

async function rejectsWith(fn, code, type) {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof AppwriteException, `AppwriteException expected, got ${err}`);
    assert.equal(err.code, code, `code (message: ${err.message}, type: ${err.type})`);
    assert.equal(err.type, type, `type (message: ${err.message})`);
    return err;
  }
  assert.fail(`expected ${code} ${type}, the call succeeded`);
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

async function createFunction(params = {}) {
  const fn = await functions.create({
    functionId: ID.unique(),
    name: 'deployments e2e',
    runtime: 'node-18.0',
    entrypoint: 'index.js',
    commands: '',
    ...params,
  });
  created.push(fn.$id);
  return fn;
}

async function run(functionId) {
  const ex = await functions.createExecution({ functionId, async: false });
  assert.equal(ex.status, 'completed', `${ex.responseBody} ${ex.errors}`);
  return JSON.parse(ex.responseBody);
}

// A 13 MiB incompressible blob: the tarball needs 3 chunks of 5 MiB.
const BLOB_SIZE = 13 * 1024 * 1024;
let bigTarball;
let bigBytes;
let repoUrl;
let firstCommit;
let secondCommit;

before(() => {
  assert.ok(KEY, 'E2E_KEY is set');
  const src = join(work, 'big');
  mkdirSync(src);
  writeFileSync(join(src, 'index.js'), SIZE_FN);
  writeFileSync(join(src, 'version.txt'), 'big');
  writeFileSync(join(src, 'blob.bin'), randomBytes(BLOB_SIZE));
  bigTarball = pack(src, 'big.tar.gz');
  bigBytes = readFileSync(bigTarball);
  assert.ok(bigBytes.length > 12 * 1024 * 1024, `tarball is ${bigBytes.length} bytes`);

  // A git repository: functions/size/{index.js,blob.bin,version.txt}; tag v1, then a 2nd commit.
  const repo = join(work, 'repo');
  mkdirSync(join(repo, 'functions/size'), { recursive: true });
  git(repo, 'init', '-q', '-b', 'main');
  writeFileSync(join(repo, 'functions/size/index.js'), SIZE_FN);
  writeFileSync(join(repo, 'functions/size/blob.bin'), Buffer.alloc(1000, 7));
  writeFileSync(join(repo, 'functions/size/version.txt'), 'v1');
  writeFileSync(join(repo, 'README.md'), 'not part of the source');
  git(repo, 'add', '.');
  git(repo, 'commit', '-q', '-m', 'first');
  git(repo, 'tag', 'v1');
  firstCommit = git(repo, 'rev-parse', 'HEAD');
  writeFileSync(join(repo, 'functions/size/version.txt'), 'v2');
  git(repo, 'commit', '-q', '-am', 'second: bump version');
  secondCommit = git(repo, 'rev-parse', 'HEAD');
  repoUrl = `file://${repo}`;
});

after(async () => {
  for (const functionId of created) {
    try {
      await functions.delete({ functionId });
    } catch {
      // already gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

describe('deployments', () => {
  let big; // { fn, deployment } of the chunked upload

  test('a chunked upload over 12 MiB builds and runs', async () => {
    const fn = await createFunction();
    const progress = [];
    const deployment = await functions.createDeployment({
      functionId: fn.$id,
      code: InputFile.fromPath(bigTarball, 'code.tar.gz'),
      activate: true,
      onProgress: (p) => progress.push(p.chunksUploaded),
    });
    assert.equal(progress.length, 3, 'three 5 MiB chunks');
    assert.equal(deployment.sourceSize, bigBytes.length);
    assert.equal(deployment.type, 'manual');
    const done = await waitDeployment(fn.$id, deployment.$id);
    assert.equal(done.status, 'ready', done.buildLogs);
    const list = await functions.listDeployments({ functionId: fn.$id });
    assert.equal(list.total, 1, 'one deployment for all chunks');
    const got = await functions.get({ functionId: fn.$id });
    assert.equal(got.deploymentId, deployment.$id);
    assert.deepEqual(await run(fn.$id), { blob: BLOB_SIZE, version: 'big' });
    big = { fn, deployment: done };
  });

  test('download with and without Range is byte-exact', async () => {
    assert.ok(big, 'chunked deployment exists');
    const { fn, deployment } = big;
    const whole = Buffer.from(
      await functions.getDeploymentDownload({ functionId: fn.$id, deploymentId: deployment.$id }),
    );
    assert.ok(whole.equals(bigBytes), 'source download equals the upload');
    const path = `/functions/${fn.$id}/deployments/${deployment.$id}/download`;
    const plain = await raw('GET', path);
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get('content-type'), 'application/gzip');
    assert.equal(plain.headers.get('cache-control'), 'private, max-age=3888000');
    assert.equal(
      plain.headers.get('content-disposition'),
      `attachment; filename="${deployment.$id}-source.tar.gz"`,
    );
    const a = 5 * 1024 * 1024 - 100;
    const b = 5 * 1024 * 1024 + 99;
    const part = await raw('GET', path, { headers: { range: `bytes=${a}-${b}` } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes ${a}-${b}/${bigBytes.length}`);
    assert.equal(part.headers.get('accept-ranges'), 'bytes');
    assert.ok(part.buf.equals(bigBytes.subarray(a, b + 1)), 'range bytes equal');
    const bad = await raw('GET', path, { headers: { range: `bytes=${bigBytes.length + 10}-` } });
    assert.equal(bad.status, 416);
    assert.equal(bad.json?.type, 'storage_invalid_range');
    const output = Buffer.from(
      await functions.getDeploymentDownload({
        functionId: fn.$id,
        deploymentId: deployment.$id,
        type: 'output',
      }),
    );
    assert.equal(output.length, deployment.buildSize, 'output download has buildSize bytes');
    assert.deepEqual([...output.subarray(0, 2)], [0x1f, 0x8b], 'output is gzip');
  });

  test('cancel a running build', async () => {
    const fn = await createFunction({ commands: 'sleep 30' });
    const src = join(work, 'small');
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, 'index.js'), "module.exports = async ({ res }) => res.text('ok');");
    const tarball = pack(src, 'small.tar.gz');
    const deployment = await functions.createDeployment({
      functionId: fn.$id,
      code: InputFile.fromPath(tarball, 'code.tar.gz'),
      activate: true,
    });
    await waitDeployment(fn.$id, deployment.$id, ['building', 'ready', 'failed', 'canceled']);
    const canceled = await functions.updateDeploymentStatus({
      functionId: fn.$id,
      deploymentId: deployment.$id,
    });
    assert.equal(canceled.status, 'canceled');
    // The builder stops the container and reports its logs; the status stays canceled.
    const deadline = Date.now() + 60_000;
    let dep;
    do {
      await sleep(500);
      dep = await functions.getDeployment({ functionId: fn.$id, deploymentId: deployment.$id });
      assert.equal(dep.status, 'canceled');
    } while (Date.now() < deadline && !dep.buildLogs.includes('Build has been canceled.'));
    assert.ok(dep.buildLogs.includes('Build has been canceled.'), dep.buildLogs);
    const got = await functions.get({ functionId: fn.$id });
    assert.equal(got.deploymentId, '');
    assert.equal(got.latestDeploymentStatus, 'canceled');
    await rejectsWith(
      () => functions.getDeploymentDownload({ functionId: fn.$id, deploymentId: deployment.$id, type: 'output' }),
      404,
      'deployment_not_found',
    );
  });

  test('a finished build cannot be canceled', async () => {
    assert.ok(big, 'chunked deployment exists');
    await rejectsWith(
      () => functions.updateDeploymentStatus({ functionId: big.fn.$id, deploymentId: big.deployment.$id }),
      400,
      'build_already_completed',
    );
  });

  test('duplicate rebuilds the same source with the current settings', async () => {
    assert.ok(big, 'chunked deployment exists');
    const { fn, deployment } = big;
    const copy = await functions.createDuplicateDeployment({
      functionId: fn.$id,
      deploymentId: deployment.$id,
    });
    assert.notEqual(copy.$id, deployment.$id);
    assert.equal(copy.status, 'waiting');
    assert.equal(copy.sourceSize, deployment.sourceSize);
    assert.equal(copy.buildSize, 0);
    const done = await waitDeployment(fn.$id, copy.$id);
    assert.equal(done.status, 'ready', done.buildLogs);
    const source = Buffer.from(
      await functions.getDeploymentDownload({ functionId: fn.$id, deploymentId: copy.$id }),
    );
    assert.ok(source.equals(bigBytes), 'duplicate has the same source');
    await rejectsWith(
      () => functions.createDuplicateDeployment({ functionId: fn.$id, deploymentId: 'missing' }),
      404,
      'deployment_not_found',
    );
    big.copy = done;
  });

  test('delete clears the active deployment', async () => {
    assert.ok(big?.copy, 'duplicate exists');
    const { fn, deployment, copy } = big;
    // The duplicate of an activating deployment activates when it is ready (a redeploy).
    let got = await functions.get({ functionId: fn.$id });
    assert.equal(got.deploymentId, copy.$id);
    assert.equal(got.latestDeploymentId, copy.$id);
    await functions.deleteDeployment({ functionId: fn.$id, deploymentId: copy.$id });
    got = await functions.get({ functionId: fn.$id });
    assert.equal(got.deploymentId, '');
    assert.equal(got.latestDeploymentId, deployment.$id, 'latest falls back to the remaining one');
    assert.equal(got.latestDeploymentStatus, 'ready');
    await rejectsWith(
      () => functions.getDeployment({ functionId: fn.$id, deploymentId: copy.$id }),
      404,
      'deployment_not_found',
    );
    await rejectsWith(
      () => functions.getDeploymentDownload({ functionId: fn.$id, deploymentId: copy.$id }),
      404,
      'deployment_not_found',
    );
    await rejectsWith(
      () => functions.deleteDeployment({ functionId: fn.$id, deploymentId: copy.$id }),
      404,
      'deployment_not_found',
    );
    await functions.deleteDeployment({ functionId: fn.$id, deploymentId: deployment.$id });
    got = await functions.get({ functionId: fn.$id });
    assert.equal(got.latestDeploymentId, '');
    const list = await functions.listDeployments({ functionId: fn.$id });
    assert.equal(list.total, 0);
  });

  test('template deployment from a git repository', async () => {
    const fn = await createFunction();
    const dep = await functions.createTemplateDeployment({
      functionId: fn.$id,
      repository: repoUrl,
      owner: 'local',
      rootDirectory: 'functions/size',
      type: 'tag',
      reference: 'v1',
      activate: true,
    });
    assert.equal(dep.type, 'vcs');
    assert.equal(dep.providerCommitHash, firstCommit);
    const done = await waitDeployment(fn.$id, dep.$id);
    assert.equal(done.status, 'ready', done.buildLogs);
    assert.deepEqual(await run(fn.$id), { blob: 1000, version: 'v1' });
    await rejectsWith(
      () =>
        functions.createTemplateDeployment({
          functionId: fn.$id,
          repository: repoUrl,
          owner: 'local',
          rootDirectory: 'functions/size',
          type: 'branch',
          reference: 'no-such-branch',
        }),
      400,
      'general_argument_invalid',
    );
    await rejectsWith(
      () =>
        functions.createTemplateDeployment({
          functionId: fn.$id,
          repository: 'file:///nonexistent/fnplat-repo',
          owner: 'local',
          rootDirectory: '',
          type: 'branch',
          reference: 'main',
        }),
      404,
      'function_template_not_found',
    );
    await rejectsWith(
      () => functions.createVcsDeployment({ functionId: fn.$id, type: 'branch', reference: 'main' }),
      404,
      'installation_not_found',
    );
  });

  test('vcs deployment from the function repository link', async () => {
    const fn = await createFunction({
      installationId: 'local',
      providerRepositoryId: repoUrl,
      providerBranch: 'main',
      providerRootDirectory: 'functions/size',
    });
    const dep = await functions.createVcsDeployment({
      functionId: fn.$id,
      type: 'branch',
      reference: 'main',
      activate: true,
    });
    assert.equal(dep.type, 'vcs');
    assert.equal(dep.providerBranch, 'main');
    assert.equal(dep.providerCommitHash, secondCommit);
    assert.equal(dep.providerCommitMessage, 'second: bump version');
    assert.equal(dep.providerCommitAuthor, 'E2E Author');
    const done = await waitDeployment(fn.$id, dep.$id);
    assert.equal(done.status, 'ready', done.buildLogs);
    assert.deepEqual(await run(fn.$id), { blob: 1000, version: 'v2' });
  });

  test('chunk errors', async () => {
    const fn = await createFunction();
    const form = () => {
      const f = new FormData();
      f.append('activate', 'false');
      f.append('code', new Blob([Buffer.from([0x1f, 0x8b, 1, 2])]), 'code.tar.gz');
      return f;
    };
    const path = `/functions/${fn.$id}/deployments`;
    for (const range of ['bytes 0-3', 'bytes 0-3/2', 'bytes a-b/4']) {
      const res = await raw('POST', path, { headers: { 'content-range': range }, body: form() });
      assert.equal(res.status, 400, range);
      assert.equal(res.json?.type, 'storage_invalid_content_range', range);
    }
    const tooBig = await raw('POST', path, {
      headers: { 'content-range': 'bytes 0-3/30000001' },
      body: form(),
    });
    assert.equal(tooBig.status, 400);
    assert.equal(tooBig.json?.type, 'storage_invalid_file_size');
    const list = await functions.listDeployments({ functionId: fn.$id });
    assert.equal(list.total, 0);
  });
});
