// End-to-end: event triggers (spec 6.1, 6.2, 7.4) through RabbitMQ's `fnplat.events` topic exchange.
//
// - An outside publisher (amqplib) publishes `users.<id>.create` in the documented JSON format; the
//   function subscribed to `users.*.create` runs once (trigger `event`, POST /, the event name in
//   `x-appwrite-event`, the payload as JSON body), the one subscribed to `buckets.*.create` does not,
//   and re-publishing the same message id does not run it again.
// - The gateway's own events: creating a deployment publishes
//   `functions.<id>.deployments.<id>.create` with the Deployment model as payload (seen by a
//   temporary queue bound to the exchange).
// - `functions.*` subscriptions are rejected (400 general_argument_invalid).
// - Executions started by an event trigger or a CRON slot publish
//   `functions.<id>.executions.<id>.create` like API-started ones, and activating a deployment
//   (automatically after an activating build, or PATCH /deployment) publishes `functions.<id>.update`
//   with the Function model.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { AppwriteException, Client, Functions, ID } from 'node-appwrite';
import { InputFile } from 'node-appwrite/file';

const ENDPOINT = process.env.E2E_ENDPOINT ?? 'http://127.0.0.1:18080/v1';
const PROJECT = process.env.E2E_PROJECT ?? 'e2e';
const KEY = process.env.E2E_KEY ?? '';
const AMQP_URL = process.env.E2E_AMQP_URL ?? 'amqp://fnplat:fnplat@127.0.0.1:5672/fnplat-e2e';
const EXCHANGE = 'fnplat.events';

const client = new Client().setEndpoint(ENDPOINT).setProject(PROJECT).setKey(KEY);
const functions = new Functions(client);
const work = mkdtempSync(join(tmpdir(), 'fnplat-e2e-events-'));
const created = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A function that logs what an event trigger hands it.
const CODE = `module.exports = async ({ req, res, log }) => {
  log('trigger=' + req.headers['x-appwrite-trigger']);
  log('event=' + req.headers['x-appwrite-event']);
  log('method=' + req.method + ' path=' + req.path);
  log('agent=' + req.headers['user-agent']);
  log('body=' + req.bodyText);
  return res.json({ ok: true });
};
`;

function archive() {
  const dir = join(work, 'src');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'index.js'), CODE);
  writeFileSync(join(dir, 'package.json'), '{"name":"event-probe","version":"1.0.0"}\n');
  const file = join(work, 'code.tar.gz');
  execFileSync('tar', ['-czf', file, '-C', dir, '.']);
  return file;
}

async function deployed(name, events, extra = {}) {
  const fn = await functions.create({
    functionId: ID.unique(), name, runtime: 'node-18.0', entrypoint: 'index.js',
    commands: '', events, timeout: 15, ...extra,
  });
  created.push(fn.$id);
  let dep = await functions.createDeployment({
    functionId: fn.$id, code: InputFile.fromPath(archive(), 'code.tar.gz'), activate: true,
  });
  const deadline = Date.now() + 5 * 60_000;
  while (!['ready', 'failed', 'canceled'].includes(dep.status) && Date.now() < deadline) {
    await sleep(1000);
    dep = await functions.getDeployment({ functionId: fn.$id, deploymentId: dep.$id });
  }
  assert.equal(dep.status, 'ready', `build of ${name}: ${dep.buildLogs}`);
  for (let i = 0; i < 50; i++) {
    const f = await functions.get({ functionId: fn.$id });
    if (f.deploymentId === dep.$id) return { fn: f, deployment: dep };
    await sleep(200);
  }
  assert.fail('deployment was not activated');
}

// A temporary queue bound to the events exchange; returns the array the messages land in.
async function watch(channel, patterns) {
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  for (const pattern of patterns) await channel.bindQueue(queue, EXCHANGE, pattern);
  const seen = [];
  await channel.consume(queue, (msg) => {
    seen.push({ key: msg.fields.routingKey, body: JSON.parse(msg.content.toString()) });
  }, { noAck: true });
  return seen;
}

async function seenMessage(seen, what, predicate, ms = 60_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = seen.find(predicate);
    if (found) return found;
    if (Date.now() > deadline) assert.fail(`no ${what} among ${JSON.stringify(seen.map((m) => m.key))}`);
    await sleep(200);
  }
}

async function executionsOf(functionId) {
  return (await functions.listExecutions({ functionId })).executions;
}

async function waitFinished(functionId, count) {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const list = await executionsOf(functionId);
    const done = list.filter((e) => ['completed', 'failed'].includes(e.status));
    if (done.length >= count) return list;
    if (Date.now() > deadline) assert.fail(`expected ${count} finished executions, got ${JSON.stringify(list)}`);
    await sleep(500);
  }
}

describe('event triggers', () => {
  let connection;
  let channel;
  let users;
  let buckets;

  before(async () => {
    connection = await amqp.connect(AMQP_URL);
    channel = await connection.createConfirmChannel();
    users = await deployed('on-users-create', ['users.*.create']);
    buckets = await deployed('on-buckets-create', ['buckets.*.create']);
  });

  after(async () => {
    for (const id of created) {
      try { await functions.delete({ functionId: id }); } catch (_) { /* already gone */ }
    }
    if (connection) await connection.close();
    rmSync(work, { recursive: true, force: true });
  });

  test('functions.* subscriptions are rejected', async () => {
    for (const events of [['functions.*'], ['functions.abc.executions.*.create']]) {
      await assert.rejects(
        functions.create({ functionId: ID.unique(), name: 'bad', runtime: 'node-18.0', events }),
        (err) => err instanceof AppwriteException && err.code === 400
          && err.type === 'general_argument_invalid'
          && /Triggering a function on a function event is not allowed/.test(err.message),
      );
    }
    await assert.rejects(
      functions.create({ functionId: ID.unique(), name: 'bad', runtime: 'node-18.0', events: ['users'] }),
      (err) => err instanceof AppwriteException && err.code === 400,
    );
  });

  test('an outside event runs the subscribed function once, not the others', async () => {
    const userId = `u${Date.now()}`;
    const event = `users.${userId}.create`;
    const payload = { $id: userId, name: 'Ada', email: 'ada@example.com' };
    const message = { id: `msg-${userId}`, event, projectId: PROJECT, payload };
    const publish = () => new Promise((resolve, reject) => {
      channel.publish(EXCHANGE, event, Buffer.from(JSON.stringify(message)), {
        contentType: 'application/json', persistent: true,
      }, (err) => (err ? reject(err) : resolve()));
    });
    await publish();
    await publish(); // a redelivery of the same message id starts nothing more

    const list = await waitFinished(users.fn.$id, 1);
    await sleep(3000); // give a (wrong) second execution time to appear
    const after = await executionsOf(users.fn.$id);
    assert.equal(after.length, 1, JSON.stringify(after));
    const execution = await functions.getExecution({ functionId: users.fn.$id, executionId: list[0].$id });
    assert.equal(execution.trigger, 'event');
    assert.equal(execution.status, 'completed', execution.errors);
    assert.equal(execution.requestMethod, 'POST');
    assert.equal(execution.requestPath, '/');
    assert.match(execution.logs, new RegExp(`trigger=event`));
    assert.match(execution.logs, new RegExp(`event=users\\.${userId}\\.create`));
    assert.match(execution.logs, /method=POST path=\//);
    assert.match(execution.logs, /agent=Appwrite\//);
    const bodyLine = execution.logs.split('\n').find((l) => l.startsWith('body='));
    assert.ok(bodyLine, execution.logs);
    assert.deepEqual(JSON.parse(bodyLine.slice('body='.length)), payload);

    assert.equal((await executionsOf(buckets.fn.$id)).length, 0);
  });

  test('an outside event with only the AMQP message id and routing key', async () => {
    const bucketId = `b${Date.now()}`;
    const event = `buckets.${bucketId}.create`;
    const body = JSON.stringify({ projectId: PROJECT, payload: { $id: bucketId } });
    await new Promise((resolve, reject) => {
      channel.publish(EXCHANGE, event, Buffer.from(body), {
        contentType: 'application/json', messageId: `amqp-${bucketId}`,
      }, (err) => (err ? reject(err) : resolve()));
    });
    const list = await waitFinished(buckets.fn.$id, 1);
    assert.equal(list.length, 1);
    const execution = await functions.getExecution({ functionId: buckets.fn.$id, executionId: list[0].$id });
    assert.equal(execution.trigger, 'event');
    assert.match(execution.logs, new RegExp(`event=buckets\\.${bucketId}\\.create`));
  });

  test('the gateway publishes its own events', async () => {
    const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
    await channel.bindQueue(queue, EXCHANGE, `functions.${users.fn.$id}.#`);
    const seen = [];
    await channel.consume(queue, (msg) => {
      seen.push({ key: msg.fields.routingKey, contentType: msg.properties.contentType, body: JSON.parse(msg.content.toString()) });
    }, { noAck: true });

    const dep = await functions.createDeployment({
      functionId: users.fn.$id, code: InputFile.fromPath(archive(), 'code.tar.gz'), activate: false,
    });
    const name = `functions.${users.fn.$id}.deployments.${dep.$id}.create`;
    const deadline = Date.now() + 15_000;
    while (!seen.some((m) => m.key === name) && Date.now() < deadline) await sleep(200);
    const msg = seen.find((m) => m.key === name);
    assert.ok(msg, `no ${name} among ${JSON.stringify(seen.map((m) => m.key))}`);
    assert.equal(msg.contentType, 'application/json');
    assert.equal(msg.body.event, name);
    assert.equal(msg.body.projectId, PROJECT);
    assert.ok(msg.body.id);
    assert.equal(msg.body.payload.$id, dep.$id);
    assert.equal(msg.body.payload.resourceId, users.fn.$id);

    // build status changes arrive as deployment updates, ending with the ready one
    const update = `functions.${users.fn.$id}.deployments.${dep.$id}.update`;
    const until = Date.now() + 5 * 60_000;
    const readyUpdate = () => seen.find((m) => m.key === update && m.body.payload.status === 'ready');
    while (!readyUpdate() && Date.now() < until) await sleep(500);
    assert.ok(readyUpdate(), `no ready ${update} among ${JSON.stringify(seen.map((m) => [m.key, m.body.payload.status]))}`);

    // an execution: create, then update with its result
    const execution = await functions.createExecution({ functionId: users.fn.$id, async: true });
    const prefix = `functions.${users.fn.$id}.executions.${execution.$id}`;
    const end = Date.now() + 60_000;
    const completed = () => seen.find((m) => m.key === `${prefix}.update` && m.body.payload.status === 'completed');
    while (!completed() && Date.now() < end) await sleep(300);
    const createdMsg = seen.find((m) => m.key === `${prefix}.create`);
    assert.ok(createdMsg, `no ${prefix}.create among ${JSON.stringify(seen.map((m) => m.key))}`);
    assert.equal(createdMsg.body.payload.trigger, 'http');
    assert.ok(completed(), `no completed ${prefix}.update`);
    assert.equal(completed().body.payload.$id, execution.$id);
  });

  test('an event-started execution publishes executions.<id>.create', async () => {
    const seen = await watch(channel, [`functions.${users.fn.$id}.executions.*.create`]);
    const userId = `u${Date.now()}x`;
    const event = `users.${userId}.create`;
    const message = { id: `msg-${userId}`, event, projectId: PROJECT, payload: { $id: userId } };
    await new Promise((resolve, reject) => {
      channel.publish(EXCHANGE, event, Buffer.from(JSON.stringify(message)), {
        contentType: 'application/json', persistent: true,
      }, (err) => (err ? reject(err) : resolve()));
    });
    const msg = await seenMessage(seen, 'event-started execution create', (m) => m.body.payload.trigger === 'event');
    const id = msg.body.payload.$id;
    assert.equal(msg.key, `functions.${users.fn.$id}.executions.${id}.create`);
    assert.equal(msg.body.event, msg.key);
    assert.equal(msg.body.projectId, PROJECT);
    assert.equal(msg.body.payload.functionId, users.fn.$id);
    const execution = await functions.getExecution({ functionId: users.fn.$id, executionId: id });
    assert.equal(execution.trigger, 'event');
  });

  test('a schedule-started execution publishes executions.<id>.create', async () => {
    // The e2e stack accepts 6-field CRON (seconds): a slot every 2 seconds.
    const cron = await deployed('on-schedule', [], { schedule: '*/2 * * * * *' });
    const seen = await watch(channel, [`functions.${cron.fn.$id}.executions.*.create`]);
    try {
      const msg = await seenMessage(seen, 'schedule-started execution create', (m) => m.body.payload.trigger === 'schedule');
      assert.equal(msg.key, `functions.${cron.fn.$id}.executions.${msg.body.payload.$id}.create`);
      assert.equal(msg.body.payload.functionId, cron.fn.$id);
    } finally {
      await functions.delete({ functionId: cron.fn.$id });
    }
  });

  test('activating a deployment publishes functions.<id>.update', async () => {
    const fnId = buckets.fn.$id;
    const seen = await watch(channel, [`functions.${fnId}.update`]);
    // automatic activation when an activating build becomes ready
    const dep = await functions.createDeployment({
      functionId: fnId, code: InputFile.fromPath(archive(), 'code.tar.gz'), activate: true,
    });
    const auto = await seenMessage(seen, `functions.${fnId}.update for ${dep.$id}`,
      (m) => m.body.payload.deploymentId === dep.$id, 5 * 60_000);
    assert.equal(auto.body.event, `functions.${fnId}.update`);
    assert.equal(auto.body.projectId, PROJECT);
    assert.equal(auto.body.payload.$id, fnId);
    assert.equal(auto.body.payload.live, true);
    // PATCH /deployment back to the first one
    const first = buckets.deployment.$id;
    const updated = await functions.updateFunctionDeployment({ functionId: fnId, deploymentId: first });
    assert.equal(updated.deploymentId, first);
    const manual = await seenMessage(seen, `functions.${fnId}.update for ${first}`,
      (m) => m.body.payload.deploymentId === first, 15_000);
    assert.equal(manual.body.payload.$id, fnId);
    assert.equal(manual.body.payload.name, updated.name);
  });
});
