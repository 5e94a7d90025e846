// Shared helpers of the e2e test files (not a test file itself: node --test only picks up
// `*.test.mjs` here). Each helper takes the node-appwrite `Functions` service it should use.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppwriteException } from 'node-appwrite';
import { InputFile } from 'node-appwrite/file';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const NODE_HELLO = join(ROOT, 'tests/fixtures/node-hello');
export const BUILD_TIMEOUT_MS = 5 * 60_000;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/// Packs `fixture` into `work`, uploads it as an activated deployment of `fn` and waits until it
/// is the function's active deployment (failing on a failed build). Returns the deployment.
export async function deployAndActivate(functions, fn, work, fixture = NODE_HELLO) {
  const tarball = join(work, `${fn.$id}.tar.gz`);
  execFileSync('tar', ['--exclude=./node_modules', '-czf', tarball, '-C', fixture, '.']);
  const deployment = await functions.createDeployment({
    functionId: fn.$id,
    code: InputFile.fromPath(tarball, 'code.tar.gz'),
    activate: true,
  });
  const deadline = Date.now() + BUILD_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const f = await functions.get({ functionId: fn.$id });
    if (f.deploymentId === deployment.$id) return deployment;
    const d = await functions.getDeployment({ functionId: fn.$id, deploymentId: deployment.$id });
    assert.notEqual(d.status, 'failed', d.buildLogs);
    await sleep(1000);
  }
  throw new Error(`deployment ${deployment.$id} not active after ${BUILD_TIMEOUT_MS} ms`);
}

/// Runs `fn`, expects an AppwriteException with `code` (and `type` when given); returns it.
export async function rejectsWith(fn, code, type) {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof AppwriteException, `AppwriteException expected, got ${err}`);
    assert.equal(err.code, code, `code (message: ${err.message}, type: ${err.type})`);
    if (type) assert.equal(err.type, type, `type (message: ${err.message})`);
    return err;
  }
  assert.fail(`expected ${code} ${type ?? ''}, the call succeeded`);
}
