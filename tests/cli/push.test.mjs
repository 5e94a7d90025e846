// The Appwrite CLI (npm `appwrite-cli`, the version in package.json) pushes a function to a running
// fnplat stack with an API key, non-interactively, exactly as a user would:
//
//   appwrite client --endpoint <E> --project-id <P> --key <K>
//   appwrite functions create ...                 (see below)
//   appwrite push function --function-id <id> --force
//
// then the function, its `cli`-typed deployment (ready and active) and an execution are checked
// through the API. Env: E2E_ENDPOINT, E2E_PROJECT, E2E_KEY (scripts/stack.sh env e2e).
//
// Why `functions create` first: appwrite-cli 12.x (the newest release the npm registry serves
// here) creates a missing function inside `push` and then insists on a console login session
// (`GET /v1/console/variables` through a cookie client, then a proxy rule) — with only an API key
// it gives up on the function after creating it, against Appwrite itself too. So the function is
// created with the CLI's own `functions create` command and `push` takes its update path
// (GET, PUT, proxy rules, deployment upload, polling).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ENDPOINT = process.env.E2E_ENDPOINT;
const PROJECT = process.env.E2E_PROJECT;
const KEY = process.env.E2E_KEY;
if (!ENDPOINT || !PROJECT || !KEY) throw new Error('E2E_ENDPOINT, E2E_PROJECT and E2E_KEY must be set');
const CLI = join(HERE, 'node_modules', '.bin', 'appwrite');
const FIXTURE = resolve(HERE, '../fixtures/node-hello');

const work = mkdtempSync(join(tmpdir(), 'fnplat-cli-'));
const home = join(work, 'home'); // the CLI keeps its global config in ~/.appwrite
const project = join(work, 'project');
const functionId = `cli-${Date.now().toString(36)}`;

after(async () => {
  await api('DELETE', `/functions/${functionId}`);
  rmSync(work, { recursive: true, force: true });
});

async function api(method, path) {
  const res = await fetch(ENDPOINT + path, {
    method,
    headers: { 'x-appwrite-project': PROJECT, 'x-appwrite-key': KEY, 'x-appwrite-response-format': '1.9.5' },
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

function appwrite(...args) {
  const run = spawnSync(CLI, args, {
    cwd: project,
    env: { ...process.env, HOME: home, NO_COLOR: '1', CI: 'true' },
    input: '', // never wait for a prompt
    encoding: 'utf8',
    timeout: 360_000,
  });
  const output = `$ appwrite ${args.join(' ')}\n${run.stdout}\n${run.stderr}`;
  return { status: run.status, output };
}

test('appwrite push function deploys through the CLI with an API key', { timeout: 600_000 }, async () => {
  mkdirSync(home, { recursive: true });
  mkdirSync(join(project, 'functions'), { recursive: true });
  cpSync(FIXTURE, join(project, 'functions', 'hello'), {
    recursive: true,
    filter: (src) => !src.includes('node_modules'),
  });
  writeFileSync(
    join(project, 'appwrite.config.json'),
    JSON.stringify(
      {
        projectId: PROJECT,
        endpoint: ENDPOINT,
        projectName: 'fnplat cli test',
        functions: [
          {
            $id: functionId,
            name: 'CLI hello',
            runtime: 'node-18.0',
            path: 'functions/hello',
            entrypoint: 'index.js',
            commands: 'npm install',
            execute: ['any'],
            events: [],
            schedule: '',
            timeout: 15,
            enabled: true,
            logging: true,
            scopes: [],
            ignore: ['node_modules'],
          },
        ],
      },
      null,
      2,
    ),
  );

  let run = appwrite('client', '--endpoint', ENDPOINT, '--project-id', PROJECT, '--key', KEY);
  assert.equal(run.status, 0, run.output);

  run = appwrite(
    'functions', 'create', '--function-id', functionId, '--name', 'CLI hello',
    '--runtime', 'node-18.0', '--entrypoint', 'index.js', '--commands', 'npm install',
    '--execute', 'any',
  );
  assert.equal(run.status, 0, run.output);
  const createdFn = await api('GET', `/functions/${functionId}`);
  assert.equal(createdFn.status, 200);
  assert.equal(createdFn.json.runtime, 'node-18.0');

  run = appwrite('push', 'function', '--function-id', functionId, '--force');
  assert.equal(run.status, 0, run.output);
  assert.match(run.output, /Successfully pushed 1 functions/, run.output);
  assert.doesNotMatch(run.output, /Error/, run.output);

  const fn = (await api('GET', `/functions/${functionId}`)).json;
  assert.equal(fn.name, 'CLI hello');
  assert.ok(fn.deploymentId, `an active deployment: ${JSON.stringify(fn)}`);
  const deployments = (await api('GET', `/functions/${functionId}/deployments`)).json;
  assert.equal(deployments.total, 1);
  const dep = deployments.deployments[0];
  assert.equal(dep.$id, fn.deploymentId);
  assert.equal(dep.type, 'cli'); // x-sdk-language: cli
  assert.equal(dep.status, 'ready');
  assert.equal(dep.entrypoint, 'index.js');

  // the pushed code runs
  const res = await fetch(`${ENDPOINT}/functions/${functionId}/executions`, {
    method: 'POST',
    headers: { 'x-appwrite-project': PROJECT, 'x-appwrite-key': KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ path: '/from-cli', method: 'GET' }),
  });
  const execution = await res.json();
  assert.equal(res.status, 201, JSON.stringify(execution));
  assert.equal(execution.status, 'completed');
  assert.equal(JSON.parse(execution.responseBody).path, '/from-cli');
});
