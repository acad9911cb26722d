// The official E2B JS SDK against a real coved (tests/integration/e2b_coved.sh
// starts it): the control-plane calls, with real guests behind them. The SDK
// is pointed at coved by E2B_API_URL and E2B_API_KEY, as a user would.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { getByHost } from './host.mjs';

const { Sandbox, SandboxNotFoundError, AuthenticationError } = createRequire(
  `${process.env.COVE_NODE_DIR}/`,
)('e2b');
const template = 'tiny';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const made = [];

after(async () => {
  for (const id of made) await Sandbox.kill(id).catch(() => {});
});

test('create returns a sandbox with an id, an envd version and a token', async () => {
  const sbx = await Sandbox.create(template, { metadata: { suite: 'control', n: '1' } });
  made.push(sbx.sandboxId);
  assert.match(sbx.sandboxId, /^[a-z0-9]{20}$/);
  const info = await sbx.getInfo();
  assert.equal(info.sandboxId, sbx.sandboxId);
  assert.equal(info.templateId, template);
  assert.equal(info.state, 'running');
  assert.deepEqual(info.metadata, { suite: 'control', n: '1' });
  assert.ok(info.endAt > info.startedAt);
});

test('list filters by metadata and pages newest first', async () => {
  const second = await Sandbox.create(template, { metadata: { suite: 'control', n: '2' } });
  made.push(second.sandboxId);
  const all = await Sandbox.list({ query: { metadata: { suite: 'control' } } }).nextItems();
  assert.equal(all.length, 2);
  assert.equal(all[0].sandboxId, second.sandboxId);
  const one = await Sandbox.list({ query: { metadata: { n: '1' } } }).nextItems();
  assert.deepEqual(one.map((s) => s.metadata.n), ['1']);
  const pager = Sandbox.list({ query: { metadata: { suite: 'control' } }, limit: 1 });
  const page1 = await pager.nextItems();
  assert.equal(pager.hasNext, true);
  const page2 = await pager.nextItems();
  assert.equal(pager.hasNext, false);
  assert.deepEqual([...page1, ...page2].map((s) => s.sandboxId), all.map((s) => s.sandboxId));
});

test('setTimeout ends the sandbox at its deadline', async () => {
  const sbx = await Sandbox.create(template, { timeoutMs: 60_000 });
  made.push(sbx.sandboxId);
  await sbx.setTimeout(1_000);
  await sleep(2_000);
  await assert.rejects(Sandbox.getInfo(sbx.sandboxId), SandboxNotFoundError);
  assert.equal((await Sandbox.list().nextItems()).some((s) => s.sandboxId === sbx.sandboxId), false);
});

test('kill ends a sandbox; kill of an unknown id returns false', async () => {
  const sbx = await Sandbox.create(template);
  assert.equal(await Sandbox.kill(sbx.sandboxId), true);
  assert.equal(await Sandbox.kill(sbx.sandboxId), false);
  assert.equal(await Sandbox.kill('nosuchsandbox0000000'), false);
  await assert.rejects(Sandbox.connect(sbx.sandboxId), SandboxNotFoundError);
});

test('connect to a running sandbox gives its token again', async () => {
  const sbx = await Sandbox.create(template);
  made.push(sbx.sandboxId);
  const again = await Sandbox.connect(sbx.sandboxId);
  assert.equal(again.sandboxId, sbx.sandboxId);
});

test('a wrong API key is an authentication error', async () => {
  await assert.rejects(Sandbox.list({ apiKey: 'wrong' }).nextItems(), AuthenticationError);
});

test('an unknown template is refused', async () => {
  await assert.rejects(Sandbox.create('no-such-template'), /template 'no-such-template' not found/);
});

test('commands run through coved, and a server in the guest is reached by host name', async () => {
  const sbx = await Sandbox.create('base');
  made.push(sbx.sandboxId);
  const r = await sbx.commands.run('mkdir -p /tmp/w && echo from-guest > /tmp/w/index.html && echo ready');
  assert.equal(r.stdout, 'ready\n');
  await sbx.commands.run('python3 -m http.server 8000 --directory /tmp/w', { background: true });
  let page;
  for (let i = 0; i < 100; i++) {
    page = await getByHost(sbx.sandboxId, 8000, '/index.html');
    if (page.status === 200) break;
    await sleep(100);
  }
  assert.equal(page.status, 200);
  assert.equal(page.body, 'from-guest\n');
  assert.equal((await getByHost(sbx.sandboxId, 49983, '/health')).status, 204);
  assert.equal((await getByHost('nosuchsandbox0000000', 49983, '/health')).status, 502);
  assert.equal(await sbx.isRunning(), true);
});

test('killing a sandbox ends its open streams, and isRunning turns false', async () => {
  const sbx = await Sandbox.create('base');
  const handle = await sbx.commands.run('sleep 60', { background: true });
  const t0 = Date.now();
  await Sandbox.kill(sbx.sandboxId);
  await assert.rejects(handle.wait());
  assert.ok(Date.now() - t0 < 10_000, `the stream ended after ${Date.now() - t0} ms`);
  assert.equal(await sbx.isRunning(), false);
});

test('pause, then connect resumes the sandbox with its processes and files', async () => {
  const sbx = await Sandbox.create('base');
  made.push(sbx.sandboxId);
  await sbx.files.write('/tmp/kept.txt', 'still here');
  const counter = await sbx.commands.run('i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.2; done', {
    background: true,
  });
  await sleep(600);
  assert.equal(await sbx.pause(), true);
  assert.equal(await Sandbox.pause(sbx.sandboxId), false); // already paused: 409
  assert.equal(await sbx.isRunning(), false);
  const paused = (await Sandbox.list({ query: { state: ['paused'] } }).nextItems()).map((s) => s.sandboxId);
  assert.ok(paused.includes(sbx.sandboxId));
  const again = await Sandbox.connect(sbx.sandboxId);
  assert.equal(await again.isRunning(), true);
  assert.equal(await again.files.read('/tmp/kept.txt'), 'still here');
  const before = Number(await again.files.read('/tmp/count'));
  await sleep(800);
  assert.ok(Number(await again.files.read('/tmp/count')) > before, 'the background process carries on');
  await again.commands.kill(counter.pid);
});

test('getMetrics returns samples of the guest: CPU, memory and disk', async () => {
  const sbx = await Sandbox.create(template);
  made.push(sbx.sandboxId);
  const metrics = await sbx.getMetrics();
  assert.ok(metrics.length >= 1);
  const m = metrics.at(-1);
  assert.ok(m.timestamp instanceof Date && !Number.isNaN(m.timestamp.getTime()));
  assert.ok(m.cpuCount >= 1);
  assert.ok(m.memTotal > 100 * 1024 * 1024 && m.memUsed > 0 && m.memUsed < m.memTotal, JSON.stringify(m));
  assert.ok(m.diskTotal > 0 && m.diskUsed > 0, JSON.stringify(m));
  const future = await sbx.getMetrics({ start: new Date(Date.now() + 3600_000) });
  assert.equal(future.length, 0);
});
