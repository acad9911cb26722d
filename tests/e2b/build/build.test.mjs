// E2B's template builder through the official JS SDK (npm e2b), unmodified,
// against a real coved (tests/integration/build.sh starts it): Template.build
// and buildInBackground from Cove's templates with every step type, start
// and ready commands, a rebuild from the cache, tags, fromDockerfile, the
// failures a user meets (a RUN that fails, an upload cut short, files never
// uploaded), and removing a built template. Each template made is used by
// Sandbox.create as E2B users do.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync, mkdirSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getByHost } from '../coved/host.mjs';

const e2b = createRequire(`${process.env.COVE_NODE_DIR}/`)('e2b');
const { Template, Sandbox, BuildError, waitForPort, waitForFile } = e2b;
const api = process.env.E2B_API_URL;
const key = process.env.E2B_API_KEY;
const made = [];
const templates = new Set();
const ctx = mkdtempSync(join(tmpdir(), 'cove-build-ctx-'));

mkdirSync(join(ctx, 'site', 'sub'), { recursive: true });
writeFileSync(join(ctx, 'site', 'index.html'), '<h1>built by cove</h1>\n');
writeFileSync(join(ctx, 'site', 'sub', 'deep.txt'), 'deep\n');
writeFileSync(join(ctx, 'tool.sh'), '#!/bin/sh\necho tool ran\n');
chmodSync(join(ctx, 'tool.sh'), 0o644);

after(async () => {
  for (const id of made) await Sandbox.kill(id).catch(() => {});
  for (const name of templates) await fetch(`${api}/templates/${name}`, { method: 'DELETE', headers: { 'X-API-KEY': key } });
  rmSync(ctx, { recursive: true, force: true });
});

// A template's disk is its own copy, so each test removes what it built
// (and the sandboxes of it) as soon as it is done: the suite's disk use
// stays near one template's.
async function done(name) {
  while (made.length) await Sandbox.kill(made.pop()).catch(() => {});
  const r = await fetch(`${api}/templates/${name}`, { method: 'DELETE', headers: { 'X-API-KEY': key } });
  assert.ok(r.status === 204 || r.status === 404, `DELETE /templates/${name}: ${r.status}`);
  templates.delete(name);
}

async function sandbox(name) {
  const sbx = await Sandbox.create(name, { timeoutMs: 120_000 });
  made.push(sbx.sandboxId);
  return sbx;
}

async function run(sbx, cmd, opts) {
  const r = await sbx.commands.run(cmd, opts);
  return r.stdout.trim();
}

function collect() {
  const lines = [];
  return { lines, onBuildLogs: (e) => lines.push(e.message) };
}

test('a template built from base with every step type, its service started before the snapshot', async () => {
  templates.add('web');
  const t = Template({ fileContextPath: ctx })
    .fromTemplate('base')
    .runCmd('echo built > /tmp/marker && id -un > /tmp/built-as')
    .copy('site', '/home/user/site')
    .copy('tool.sh', '/usr/local/bin/tool', { user: 'root', mode: 0o755 })
    .setEnvs({ GREETING: 'hello', BOTH: '$GREETING world' })
    .setUser('root')
    .runCmd('mkdir -p /srv/data && echo root > /srv/data/owner')
    .setUser('user')
    .setWorkdir('/home/user/site')
    .setStartCmd('python3 -m http.server 8000', waitForPort(8000));
  const logs = collect();
  const info = await Template.build(t, 'web', { onBuildLogs: logs.onBuildLogs });
  assert.equal(info.name, 'web');
  assert.match(info.buildId, /^[0-9a-f-]{36}$/);
  assert.ok(logs.lines.some((l) => l.includes('[1/8] RUN')), logs.lines.join('\n'));
  assert.ok(await Template.exists('web'));

  const sbx = await sandbox('web');
  assert.equal(await run(sbx, 'pwd'), '/home/user/site');
  assert.equal(await run(sbx, 'whoami'), 'user');
  assert.equal(await run(sbx, 'echo "$GREETING|$BOTH"'), 'hello|hello world');
  assert.equal(await run(sbx, 'cat /tmp/marker /tmp/built-as'), 'built\nuser');
  assert.equal(await run(sbx, 'cat sub/deep.txt; stat -c %U site 2>/dev/null || stat -c %U .'), 'deep\nuser');
  assert.equal(await run(sbx, 'stat -c "%a %U" /usr/local/bin/tool; tool'), '755 root\ntool ran');
  assert.equal(await run(sbx, 'cat /srv/data/owner'), 'root');
  // Started before the snapshot: it answers at once, inside and through coved.
  assert.match(await run(sbx, 'curl -s localhost:8000/index.html'), /built by cove/);
  const viaHost = await getByHost(sbx.sandboxId, 8000, '/index.html');
  assert.equal(viaHost.status, 200);
  assert.match(viaHost.body, /built by cove/);
  await done('web');
});

test('a rebuild whose steps have not changed comes from the cache', async () => {
  const t = Template({ fileContextPath: ctx })
    .fromTemplate('tiny')
    .runCmd('echo one > /tmp/one')
    .copy('site', '/home/user/site')
    .runCmd('echo two > /tmp/two');
  templates.add('cached');
  await Template.build(t, 'cached');
  const logs = collect();
  await Template.build(t, 'cached', { onBuildLogs: logs.onBuildLogs });
  const cached = logs.lines.filter((l) => l.startsWith('CACHED'));
  assert.equal(cached.length, 3, logs.lines.join('\n'));
  // A changed last step runs again; those before it stay cached.
  const logs2 = collect();
  await Template.build(Template({ fileContextPath: ctx }).fromTemplate('tiny').runCmd('echo one > /tmp/one')
    .copy('site', '/home/user/site').runCmd('echo three > /tmp/two'), 'cached', { onBuildLogs: logs2.onBuildLogs });
  assert.equal(logs2.lines.filter((l) => l.startsWith('CACHED')).length, 2, logs2.lines.join('\n'));
  const sbx = await sandbox('cached');
  assert.equal(await run(sbx, 'cat /tmp/one /tmp/two'), 'one\nthree');
  await done('cached');
});

test('a RUN that fails ends the build in error naming the step, with its output', async () => {
  templates.add('broken');
  const t = Template().fromTemplate('tiny').runCmd('echo fine').runCmd('echo about to fail >&2; exit 3');
  await assert.rejects(Template.build(t, 'broken'), (e) => {
    assert.ok(e instanceof BuildError, String(e));
    assert.match(e.message, /step 2|RUN/);
    assert.match(e.message, /exit status 3/);
    assert.match(e.message, /about to fail/);
    return true;
  });
  assert.equal(await Template.exists('broken'), false);
  await done('broken');
});

test('tags: a name:tag build, assign and remove, and a sandbox of a tag', async () => {
  templates.add('tagged');
  const v1 = await Template.build(Template().fromTemplate('tiny').runCmd('echo v1 > /tmp/version'), 'tagged:v1');
  assert.deepEqual(v1.tags, ['v1']);
  const latest = await Template.build(Template().fromTemplate('tiny').runCmd('echo v2 > /tmp/version'), 'tagged');
  const tags = await Template.getTags('tagged');
  assert.deepEqual(tags.map((t) => t.tag).sort(), ['default', 'v1']);
  assert.equal(tags.find((t) => t.tag === 'v1').buildId, v1.buildId);
  assert.equal(tags.find((t) => t.tag === 'default').buildId, latest.buildId);
  const assigned = await Template.assignTags('tagged:v1', ['stable']);
  assert.equal(assigned.buildId, v1.buildId);
  assert.equal(await run(await sandbox('tagged:stable'), 'cat /tmp/version'), 'v1');
  assert.equal(await run(await sandbox('tagged'), 'cat /tmp/version'), 'v2');
  await Template.removeTags('tagged', ['stable']);
  assert.deepEqual((await Template.getTags('tagged')).map((t) => t.tag).sort(), ['default', 'v1']);
  await assert.rejects(Sandbox.create('tagged:stable'), /not found/);
  await done('tagged');
});

test('buildInBackground, then the status by offset until ready', async () => {
  templates.add('background');
  const info = await Template.buildInBackground(Template().fromTemplate('tiny').runCmd('echo bg'), 'background');
  let offset = 0;
  const seen = [];
  let status;
  for (let i = 0; i < 600; i++) {
    status = await Template.getBuildStatus(info, { logsOffset: offset });
    offset += status.logEntries.length;
    seen.push(...status.logEntries.map((e) => e.message));
    if (status.status === 'ready' || status.status === 'error') break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(status.status, 'ready', JSON.stringify(status));
  const again = await Template.getBuildStatus(info, { logsOffset: offset });
  assert.deepEqual(again.logEntries, []);
  assert.ok(seen.some((m) => m === 'bg'), seen.join('\n'));
  await done('background');
});

test('fromDockerfile: the SDK turns it into steps; E2B\'s base image is Cove\'s base', async () => {
  templates.add('docker');
  const t = Template().fromDockerfile(
    'FROM e2bdev/base\nRUN echo from-dockerfile > /tmp/d\nENV MODE=docker\nWORKDIR /opt/app\n' +
      'RUN touch ready-file\nCMD ["sleep", "infinity"]\n',
  ).setReadyCmd(waitForFile('/opt/app/ready-file'));
  await Template.build(t, 'docker');
  const sbx = await sandbox('docker');
  // The SDK ends a Dockerfile without USER with USER user, as E2B runs it.
  assert.equal(await run(sbx, 'cat /tmp/d; echo $MODE; pwd; whoami; stat -c %U ready-file'),
    'from-dockerfile\ndocker\n/opt/app\nuser\nroot');
  assert.match(await run(sbx, 'pgrep -a sleep || ps ax'), /sleep infinity/);
  await done('docker');
});

test('an upload cut short or with a bad token is refused; files never uploaded fail the trigger', async () => {
  templates.add('uploads');
  const headers = { 'X-API-KEY': key, 'Content-Type': 'application/json' };
  const reg = await (await fetch(`${api}/v3/templates`, { method: 'POST', headers, body: JSON.stringify({ name: 'uploads' }) })).json();
  const hash = 'a'.repeat(64);
  const files = await (await fetch(`${api}/templates/uploads/files/${hash}`, { headers })).json();
  assert.equal(files.present, false);
  // A gzip stream cut off in the middle.
  const { gzipSync } = await import('node:zlib');
  const whole = gzipSync(Buffer.alloc(4096, 'x'));
  const cut = await fetch(files.url, { method: 'PUT', body: whole.subarray(0, 40) });
  assert.equal(cut.status, 400, await cut.text());
  const bad = await fetch(files.url.replace(/token=[^&]*/, 'token=1-' + '0'.repeat(64)), { method: 'PUT', body: whole });
  assert.equal(bad.status, 401);
  assert.equal((await (await fetch(`${api}/templates/uploads/files/${hash}`, { headers })).json()).present, false);
  const trigger = await fetch(`${api}/v2/templates/uploads/builds/${reg.buildID}`, {
    method: 'POST', headers,
    body: JSON.stringify({ fromTemplate: 'base', force: false, steps: [{ type: 'COPY', args: ['x', '/x', '', ''], force: false, filesHash: hash }] }),
  });
  assert.equal(trigger.status, 400);
  assert.match((await trigger.json()).message, /were not uploaded/);
});

test('a built template is removed with DELETE /templates/{id}; a recipe template is not', async () => {
  templates.add('gone');
  await Template.build(Template().fromTemplate('tiny').runCmd('true'), 'gone');
  assert.ok(await Template.exists('gone'));
  const del = await fetch(`${api}/templates/gone`, { method: 'DELETE', headers: { 'X-API-KEY': key } });
  assert.equal(del.status, 204);
  assert.equal(await Template.exists('gone'), false);
  await assert.rejects(Sandbox.create('gone'), /not found/);
  const recipe = await fetch(`${api}/templates/base`, { method: 'DELETE', headers: { 'X-API-KEY': key } });
  assert.equal(recipe.status, 501);
  // A build may not take a recipe template's name.
  await assert.rejects(Template.build(Template().fromTemplate('base'), 'tiny'), /not made by a build/);
});
