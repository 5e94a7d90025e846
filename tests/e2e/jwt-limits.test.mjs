// End-to-end: executions belong to the JWT user who started them, and createExecution's abuse
// limit (spec 1.1 X-RateLimit-* headers, spec 4 general_rate_limit_exceeded 429), through
// node-appwrite (setJWT / setKey) and raw fetch where headers matter.
//
// Users are JWTs signed with the stack's secret (E2E_JWT_SECRET), each test with fresh random user
// ids, so the per-(IP, user) counters of other test files are untouched. The stack runs the default
// limit (read from X-RateLimit-Limit, 60 per 60 s windows aligned to the minute). Guests share one
// counter per IP across every test file, so guest limiting is covered by the Rust tests
// (crates/api-gateway/tests/api/ownership.rs), not here.
// Env: E2E_ENDPOINT, E2E_PROJECT, E2E_KEY, E2E_JWT_SECRET.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppwriteException, Client, Functions, ID } from 'node-appwrite';
import { InputFile } from 'node-appwrite/file';

const ENDPOINT = process.env.E2E_ENDPOINT ?? 'http://127.0.0.1:18080/v1';
const PROJECT = process.env.E2E_PROJECT ?? 'e2e';
const KEY = process.env.E2E_KEY ?? '';
const JWT_SECRET = process.env.E2E_JWT_SECRET ?? '';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURE = join(ROOT, 'tests/fixtures/node-hello');
const BUILD_TIMEOUT_MS = 5 * 60_000;

const server = new Functions(new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setKey(KEY));
const work = mkdtempSync(join(tmpdir(), 'fnplat-e2e-jwt-limits-'));
const created = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const newUser = () => `u${randomBytes(6).toString('hex')}`;
let fn;

function jwt(userId) {
  const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({
    userId,
    sessionId: `s-${userId}`,
    exp: Math.floor(Date.now() / 1000) + 3600,
  })}`;
  return `${input}.${createHmac('sha256', JWT_SECRET).update(input).digest('base64url')}`;
}

const asUser = (userId) =>
  new Functions(new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setJWT(jwt(userId)));

async function rejectsWith(call, code, type) {
  try {
    await call();
  } catch (err) {
    assert.ok(err instanceof AppwriteException, `AppwriteException expected, got ${err}`);
    assert.equal(err.code, code, `code (message: ${err.message}, type: ${err.type})`);
    assert.equal(err.type, type, `type (message: ${err.message})`);
    return err;
  }
  assert.fail(`expected ${code} ${type}, the call succeeded`);
}

/** POST createExecution with raw fetch: { status, body, limit, remaining, reset }. */
async function rawExecute(functionId, headers) {
  const res = await fetch(`${ENDPOINT}/functions/${functionId}/executions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-appwrite-project': PROJECT, ...headers },
    body: JSON.stringify({ async: true }),
  });
  const num = (name) => (res.headers.has(name) ? Number(res.headers.get(name)) : null);
  return {
    status: res.status,
    body: await res.json(),
    limit: num('x-ratelimit-limit'),
    remaining: num('x-ratelimit-remaining'),
    reset: num('x-ratelimit-reset'),
  };
}

before(async () => {
  assert.ok(KEY, 'E2E_KEY must be set (the e2e stack exports it)');
  assert.ok(JWT_SECRET, 'E2E_JWT_SECRET must be set (the e2e stack exports it)');
  fn = await server.create({
    functionId: ID.unique(),
    name: 'jwt-limits',
    runtime: 'node-18.0',
    execute: ['users'],
    entrypoint: 'index.js',
    commands: 'npm install',
  });
  created.push(fn.$id);
  const tarball = join(work, 'code.tar.gz');
  execFileSync('tar', ['--exclude=./node_modules', '-czf', tarball, '-C', FIXTURE, '.']);
  const deployment = await server.createDeployment({
    functionId: fn.$id,
    code: InputFile.fromPath(tarball, 'code.tar.gz'),
    activate: true,
  });
  const deadline = Date.now() + BUILD_TIMEOUT_MS;
  for (;;) {
    const f = await server.get({ functionId: fn.$id });
    if (f.deploymentId === deployment.$id) break;
    const d = await server.getDeployment({ functionId: fn.$id, deploymentId: deployment.$id });
    assert.notEqual(d.status, 'failed', d.buildLogs);
    assert.ok(Date.now() < deadline, `deployment ${deployment.$id} not active in time`);
    await sleep(1000);
  }
});

after(async () => {
  for (const id of created) {
    try {
      await server.delete({ functionId: id });
    } catch {
      // already gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

describe('JWT users own their executions', () => {
  test('each user lists and gets only their own; the API key sees both', async () => {
    const [u1, u2] = [newUser(), newUser()];
    const sync = await asUser(u1).createExecution({ functionId: fn.$id, xpath: '/who' });
    assert.equal(sync.status, 'completed', sync.errors);
    assert.deepEqual(sync.$permissions, [`read("user:${u1}")`]);
    // the function saw the caller
    assert.equal(JSON.parse(sync.responseBody).headers['x-appwrite-user-id'], u1);
    const e1 = await asUser(u1).createExecution({ functionId: fn.$id, async: true });
    const e2 = await asUser(u2).createExecution({ functionId: fn.$id, async: true });
    const byKey = await server.createExecution({ functionId: fn.$id, async: true });
    assert.deepEqual(e2.$permissions, [`read("user:${u2}")`]);
    assert.deepEqual(byKey.$permissions, []);

    const l1 = await asUser(u1).listExecutions({ functionId: fn.$id });
    assert.equal(l1.total, 2);
    assert.deepEqual(l1.executions.map((e) => e.$id).sort(), [sync.$id, e1.$id].sort());
    const l2 = await asUser(u2).listExecutions({ functionId: fn.$id });
    assert.equal(l2.total, 1);
    assert.deepEqual(l2.executions.map((e) => e.$id), [e2.$id]);

    assert.equal((await asUser(u1).getExecution({ functionId: fn.$id, executionId: e1.$id })).$id, e1.$id);
    for (const other of [e2.$id, byKey.$id]) {
      await rejectsWith(
        () => asUser(u1).getExecution({ functionId: fn.$id, executionId: other }),
        404,
        'execution_not_found',
      );
    }
    await rejectsWith(
      () => asUser(u2).getExecution({ functionId: fn.$id, executionId: sync.$id }),
      404,
      'execution_not_found',
    );

    const all = await server.listExecutions({ functionId: fn.$id });
    const ids = all.executions.map((e) => e.$id);
    for (const id of [sync.$id, e1.$id, e2.$id, byKey.$id]) assert.ok(ids.includes(id), `${id} in ${ids}`);
    const got = await server.getExecution({ functionId: fn.$id, executionId: e2.$id });
    assert.deepEqual(got.$permissions, [`read("user:${u2}")`]);
  });
});

describe('createExecution abuse limit', () => {
  test('a user gets X-RateLimit-* headers and 429 over the limit; others and API keys are unaffected', async () => {
    let user = newUser();
    let first = await rawExecute(fn.$id, { 'x-appwrite-jwt': jwt(user) });
    // Windows are aligned: start in a fresh one when this one is about to end.
    const left = first.reset - Math.floor(Date.now() / 1000);
    if (left < 15) {
      await sleep((left + 1) * 1000);
      user = newUser();
      first = await rawExecute(fn.$id, { 'x-appwrite-jwt': jwt(user) });
    }
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const limit = first.limit;
    assert.ok(Number.isInteger(limit) && limit > 1, `X-RateLimit-Limit ${limit}`);
    assert.equal(first.remaining, limit - 1);
    assert.ok(first.reset > Date.now() / 1000, `X-RateLimit-Reset ${first.reset} is in the future`);

    // Every call counts, a failing one too (the limit is checked before the function is looked up).
    for (let left = limit - 2; left >= 0; left--) {
      const r = await rawExecute('no-such-function', { 'x-appwrite-jwt': jwt(user) });
      assert.equal(r.status, 404, JSON.stringify(r.body));
      assert.equal(r.body.type, 'function_not_found');
      assert.deepEqual([r.limit, r.remaining, r.reset], [limit, left, first.reset]);
    }
    const over = await rawExecute(fn.$id, { 'x-appwrite-jwt': jwt(user) });
    assert.equal(over.status, 429, JSON.stringify(over.body));
    assert.equal(over.body.type, 'general_rate_limit_exceeded');
    assert.equal(over.body.code, 429);
    assert.match(over.body.message, /Rate limit/);
    assert.deepEqual([over.limit, over.remaining, over.reset], [limit, 0, first.reset]);
    // the SDK surfaces it as an AppwriteException
    await rejectsWith(
      () => asUser(user).createExecution({ functionId: fn.$id, async: true }),
      429,
      'general_rate_limit_exceeded',
    );
    // only the one accepted call created an execution
    const mine = await asUser(user).listExecutions({ functionId: fn.$id });
    assert.equal(mine.total, 1);

    // another user has their own counter
    const other = await rawExecute(fn.$id, { 'x-appwrite-jwt': jwt(newUser()) });
    assert.equal(other.status, 202, JSON.stringify(other.body));
    assert.equal(other.remaining, limit - 1);
    // API keys are exempt: accepted, no rate-limit headers
    const byKey = await rawExecute(fn.$id, { 'x-appwrite-key': KEY });
    assert.equal(byKey.status, 202, JSON.stringify(byKey.body));
    assert.equal(byKey.limit, null);
  });
});
