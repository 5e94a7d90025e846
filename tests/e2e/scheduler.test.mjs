// End-to-end: CRON schedules and scheduledAt executions through the real scheduler processes,
// RabbitMQ, the gateway and the executor (node-appwrite as the client).
//
// The e2e stack runs with GATEWAY__SCHEDULES__ALLOW_SECONDS=true (6-field CRON with seconds) and
// GATEWAY__SCHEDULES__MIN_SCHEDULED_AT_SECONDS=5 (scripts/stack.sh). Besides the stack's own
// scheduler this file starts two more replicas (target/debug/scheduler) and kills one by pid.
// Prints the slot -> execution delay (p50, max) as `[e2e]` lines.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppwriteException, Client, Functions, ID, Query } from 'node-appwrite';
import { InputFile } from 'node-appwrite/file';

const ENDPOINT = process.env.E2E_ENDPOINT ?? 'http://127.0.0.1:18080/v1';
const PROJECT = process.env.E2E_PROJECT ?? 'e2e';
const KEY = process.env.E2E_KEY ?? '';
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURE = join(ROOT, 'tests/fixtures/node-hello');
const SCHEDULER_BIN = join(ROOT, 'target/debug/scheduler');
const AMQP_URL = process.env.E2E_AMQP_URL ?? 'amqp://fnplat:fnplat@127.0.0.1:5672/fnplat-e2e';
const EVERY = 3; // seconds between test slots

const client = new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setKey(KEY);
const functions = new Functions(client);
const work = mkdtempSync(join(tmpdir(), 'fnplat-e2e-sched-'));
const created = [];
const replicas = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function internal(path) {
  const res = await fetch(ENDPOINT + path, {
    headers: { 'x-appwrite-project': PROJECT, 'x-appwrite-key': KEY },
  });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return res.json();
}

async function deployed(name, schedule = '') {
  const fn = await functions.create({
    functionId: ID.unique(), name, runtime: 'node-18.0', entrypoint: 'index.js',
    commands: 'npm install', schedule, timeout: 15,
  });
  created.push(fn.$id);
  const archive = join(work, `${fn.$id}.tar.gz`);
  execFileSync('tar', ['--exclude=./node_modules', '-czf', archive, '-C', FIXTURE, '.']);
  let dep = await functions.createDeployment({
    functionId: fn.$id, code: InputFile.fromPath(archive, 'code.tar.gz'), activate: true,
  });
  const deadline = Date.now() + 5 * 60_000;
  while (!['ready', 'failed', 'canceled'].includes(dep.status) && Date.now() < deadline) {
    await sleep(1000);
    dep = await functions.getDeployment({ functionId: fn.$id, deploymentId: dep.$id });
  }
  assert.equal(dep.status, 'ready', `build of ${name}: ${dep.buildLogs}`);
  // activation follows the build; wait until the function shows it
  for (let i = 0; i < 50; i++) {
    const f = await functions.get({ functionId: fn.$id });
    if (f.deploymentId === dep.$id) return f;
    await sleep(200);
  }
  assert.fail('deployment was not activated');
}

async function setSchedule(fn, schedule) {
  return functions.update({
    functionId: fn.$id, name: fn.name, runtime: 'node-18.0', entrypoint: 'index.js',
    commands: 'npm install', schedule, timeout: 15,
  });
}

async function allExecutions(functionId) {
  const list = await functions.listExecutions({ functionId, queries: [Query.limit(500)] });
  return list.executions;
}

function startReplica() {
  const env = {
    ...process.env,
    SCHEDULER__AMQP__URL: AMQP_URL,
    SCHEDULER__ADMIN__HOST: '127.0.0.1',
    SCHEDULER__ADMIN__PORT: '0',
    SCHEDULER__GATEWAY__URL: ENDPOINT.replace(/\/v1$/, ''),
    SCHEDULER__GATEWAY__PROJECT_ID: PROJECT,
    SCHEDULER__GATEWAY__API_KEY: KEY,
    NO_COLOR: '1',
  };
  const child = spawn(SCHEDULER_BIN, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const replica = { child, log: () => out };
  replicas.push(replica);
  return replica;
}

async function waitLoaded(replica) {
  for (let i = 0; i < 100; i++) {
    if (/schedules loaded/.test(replica.log())) return;
    if (replica.child.exitCode !== null) break;
    await sleep(100);
  }
  assert.fail(`scheduler replica did not load its schedules:\n${replica.log()}`);
}

/** Fired slots of a function (ascending), from the gateway's record. */
async function firedSlots(functionId) {
  const { slots } = await internal(`/internal/functions/${functionId}/schedule-slots`);
  return slots.filter((s) => s.status === 'fired').map((s) => ({ ...s, t: Date.parse(s.slot) }))
    .sort((a, b) => a.t - b.t);
}

async function waitSlots(functionId, n, sinceMs) {
  const deadline = Date.now() + (n + 10) * EVERY * 1000;
  while (Date.now() < deadline) {
    const slots = (await firedSlots(functionId)).filter((s) => s.t >= sinceMs);
    if (slots.length >= n) return slots;
    await sleep(500);
  }
  assert.fail(`fewer than ${n} slots fired`);
}

/** Every slot between the first and last fired one is present, and has exactly one execution. */
async function assertExactlyOnce(functionId, slots) {
  for (let i = 1; i < slots.length; i++) {
    assert.equal(slots[i].t - slots[i - 1].t, EVERY * 1000,
      `gap or duplicate between ${slots[i - 1].slot} and ${slots[i].slot}`);
  }
  const executions = (await allExecutions(functionId)).filter((e) => e.trigger === 'schedule');
  const ids = new Set(executions.map((e) => e.$id));
  const fired = (await firedSlots(functionId));
  assert.equal(executions.length, fired.length, 'one execution per fired slot, no more');
  for (const s of slots) assert.ok(ids.has(s.executionId), `execution of slot ${s.slot} exists`);
  return executions;
}

const delays = { queued: [], started: [] };

async function recordDelays(functionId, slots) {
  const bySlot = new Map(slots.map((s) => [s.executionId, s.t]));
  for (let i = 0; i < 40; i++) {
    const done = (await allExecutions(functionId))
      .filter((e) => bySlot.has(e.$id) && ['completed', 'failed'].includes(e.status));
    if (done.length === bySlot.size) {
      for (const e of done) {
        assert.equal(e.status, 'completed', `scheduled run failed: ${e.errors}`);
        const slot = bySlot.get(e.$id);
        delays.queued.push(Date.parse(e.$createdAt) - slot);
        delays.started.push(Date.parse(e.$updatedAt) - e.duration * 1000 - slot);
      }
      return;
    }
    await sleep(500);
  }
  assert.fail('scheduled executions did not finish');
}

function pct(values, p) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

before(() => {
  assert.ok(KEY, 'E2E_KEY is not set (run through scripts/test.sh)');
  assert.ok(existsSync(SCHEDULER_BIN), `${SCHEDULER_BIN} missing (cargo build --workspace --bins)`);
});

after(async () => {
  for (const r of replicas) if (r.child.exitCode === null) r.child.kill('SIGTERM');
  for (const id of created) {
    try { await functions.delete({ functionId: id }); } catch (_) { /* best effort */ }
  }
  rmSync(work, { recursive: true, force: true });
  if (delays.queued.length) {
    console.log(`[e2e] schedule slot -> execution queued: p50 ${pct(delays.queued, 50)} ms, max ${Math.max(...delays.queued)} ms (n=${delays.queued.length})`);
    console.log(`[e2e] schedule slot -> execution start:  p50 ${pct(delays.started, 50)} ms, max ${Math.max(...delays.started)} ms (n=${delays.started.length})`);
  }
});

describe('scheduler', () => {
  test('CRON validation: a bad expression is 400 general_argument_invalid', async () => {
    await assert.rejects(
      functions.create({ functionId: ID.unique(), name: 'bad-cron', runtime: 'node-18.0', schedule: '61 * * * *' }),
      (e) => e instanceof AppwriteException && e.code === 400 && e.type === 'general_argument_invalid',
    );
  });

  test('three replicas, then one killed: every slot fires exactly once', async () => {
    const fn = await deployed('sched-replicas');
    const a = startReplica();
    const b = startReplica();
    await Promise.all([waitLoaded(a), waitLoaded(b)]);
    const since = Date.now();
    await setSchedule(fn, `*/${EVERY} * * * * *`);

    // 3 replicas (the stack's and two more) over 5 slots
    const five = (await waitSlots(fn.$id, 5, since)).slice(0, 5);
    const ex = await assertExactlyOnce(fn.$id, five);
    for (const e of ex) assert.equal(e.trigger, 'schedule');
    await recordDelays(fn.$id, five);

    // kill one replica without warning, keep going for 5 more slots
    a.child.kill('SIGKILL');
    const killedAt = Date.now();
    const more = (await waitSlots(fn.$id, 5, killedAt)).slice(0, 5);
    await setSchedule(fn, '');
    await sleep(EVERY * 1000 + 1000);
    const all = await firedSlots(fn.$id);
    await assertExactlyOnce(fn.$id, all);
    await recordDelays(fn.$id, more);
    assert.ok(all.length >= 10, `fired ${all.length}`);
    b.child.kill('SIGTERM');
  });

  test('scheduledAt: fires once at its minute; a deleted one never fires', async () => {
    const fn = await deployed('sched-at');
    const at = new Date(Math.ceil((Date.now() + 8000) / 60000) * 60000);
    const iso = at.toISOString();
    await assert.rejects(
      functions.createExecution({ functionId: fn.$id, scheduledAt: iso }),
      (e) => e instanceof AppwriteException && e.code === 400 && e.type === 'general_bad_request',
      'scheduledAt needs async',
    );
    const keep = await functions.createExecution({
      functionId: fn.$id, async: true, xpath: '/at?x=1', body: 'scheduled body', scheduledAt: iso,
    });
    assert.equal(keep.status, 'scheduled');
    assert.equal(keep.trigger, 'schedule');
    assert.equal(new Date(keep.scheduledAt).getTime(), at.getTime());
    const cancel = await functions.createExecution({ functionId: fn.$id, async: true, scheduledAt: iso });
    await functions.deleteExecution({ functionId: fn.$id, executionId: cancel.$id });

    await sleep(Math.max(0, at.getTime() - Date.now()) + 1000);
    let got;
    for (let i = 0; i < 60; i++) {
      got = await functions.getExecution({ functionId: fn.$id, executionId: keep.$id });
      if (['completed', 'failed'].includes(got.status)) break;
      await sleep(500);
    }
    assert.equal(got.status, 'completed', `scheduled execution: ${got.status} ${got.errors}`);
    assert.equal(got.requestPath, '/at?x=1');
    assert.match(got.logs, /node-hello called: POST \/at/);
    const startMs = Date.parse(got.$updatedAt) - got.duration * 1000;
    assert.ok(startMs >= at.getTime(), 'did not start before its time');
    console.log(`[e2e] scheduledAt -> execution start: ${startMs - at.getTime()} ms`);

    await sleep(3000);
    const executions = await allExecutions(fn.$id);
    assert.deepEqual(executions.map((e) => e.$id), [keep.$id], 'exactly the kept execution exists, once');
    await assert.rejects(
      functions.getExecution({ functionId: fn.$id, executionId: cancel.$id }),
      (e) => e instanceof AppwriteException && e.code === 404,
    );
  });
});
