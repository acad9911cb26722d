// The official E2B JS SDK against a real coved (tests/integration/e2b_coved.sh
// starts it): the calls issue 14 made work as on E2B, or fail honestly:
// fork's per-child results, Template.exists, a sandbox's network, lifecycle
// and disk in getInfo, the list's template, startedAfter and order, metrics'
// memCache, and a 501 (never "not found") for what Cove does not serve.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';

const { ALL_TRAFFIC, Sandbox, SandboxNotFoundError, Template, Volume } = createRequire(
  `${process.env.COVE_NODE_DIR}/`,
)('e2b');
const template = 'tiny';
const made = [];

after(async () => {
  for (const id of made) await Sandbox.kill(id).catch(() => {});
});

const lifeSeconds = (info) => Math.round((info.endAt - info.startedAt) / 1000);

test('sbx.fork() makes one child that carries on from its parent, on its own, for 15 s', async () => {
  const sbx = await Sandbox.create(template, { timeoutMs: 120_000 });
  made.push(sbx.sandboxId);
  await sbx.files.write('/tmp/who', 'parent');
  const kids = await sbx.fork();
  assert.equal(kids.length, 1);
  const [kid] = kids;
  assert.ok(kid instanceof Sandbox, String(kid));
  made.push(kid.sandboxId);
  assert.notEqual(kid.sandboxId, sbx.sandboxId);
  const info = await kid.getInfo();
  assert.equal(info.templateId, template);
  assert.equal(lifeSeconds(info), 15); // E2B's default for a fork
  assert.equal(await kid.files.read('/tmp/who'), 'parent');
  await kid.files.write('/tmp/who', 'child');
  assert.equal(await sbx.files.read('/tmp/who'), 'parent');
  assert.equal((await sbx.getInfo()).state, 'running');
});

test('Sandbox.fork(id, {count, timeoutMs}) makes that many, each its own', async () => {
  const sbx = await Sandbox.create(template);
  made.push(sbx.sandboxId);
  const kids = await Sandbox.fork(sbx.sandboxId, { count: 2, timeoutMs: 60_000 });
  assert.equal(kids.length, 2);
  for (const kid of kids) {
    assert.ok(kid instanceof Sandbox, String(kid));
    made.push(kid.sandboxId);
    assert.equal(await kid.isRunning(), true);
    assert.equal(lifeSeconds(await kid.getInfo()), 60);
  }
  assert.notEqual(kids[0].sandboxId, kids[1].sandboxId);
});

test('a paused sandbox forks too (Cove keeps this; E2B answers 409), and stays paused', async () => {
  const sbx = await Sandbox.create(template);
  made.push(sbx.sandboxId);
  await sbx.files.write('/tmp/kept', 'from the paused one');
  assert.equal(await sbx.pause(), true);
  const [kid] = await Sandbox.fork(sbx.sandboxId, { timeoutMs: 60_000 });
  assert.ok(kid instanceof Sandbox, String(kid));
  made.push(kid.sandboxId);
  assert.equal(await kid.files.read('/tmp/kept'), 'from the paused one');
  assert.equal((await sbx.getInfo()).state, 'paused');
});

test('fork of a killed sandbox is SandboxNotFoundError', async () => {
  const sbx = await Sandbox.create(template);
  await sbx.kill();
  await assert.rejects(sbx.fork(), SandboxNotFoundError);
  await assert.rejects(Sandbox.fork('nosuchsandbox0000000', { count: 2 }), SandboxNotFoundError);
});

test('Template.exists: true for a template of this host, false for another name', async () => {
  assert.equal(await Template.exists('base'), true);
  assert.equal(await Template.exists(template), true);
  assert.equal(await Template.exists(`nonexistent-${randomUUID()}`), false);
});

test('getInfo and list carry the network, internet access, lifecycle and disk as created', async () => {
  const sbx = await Sandbox.create(template, {
    allowInternetAccess: false,
    network: { allowOut: ['10.9.8.7'], denyOut: ['192.0.2.0/24'] },
    lifecycle: { onTimeout: 'pause' },
    metadata: { suite: 'parity-info' },
  });
  made.push(sbx.sandboxId);
  const info = await sbx.getInfo();
  assert.equal(info.allowInternetAccess, false);
  assert.deepEqual(info.network.allowOut, ['10.9.8.7']);
  assert.deepEqual(info.network.denyOut, ['192.0.2.0/24']);
  assert.equal(info.network.allowPublicTraffic, true);
  assert.deepEqual(info.lifecycle, { onTimeout: 'pause', autoResume: false });
  assert.deepEqual(info.volumeMounts, []);
  assert.equal(info.sandboxDomain, undefined);
  const plain = await Sandbox.create(template);
  made.push(plain.sandboxId);
  const plainInfo = await plain.getInfo();
  assert.equal(plainInfo.allowInternetAccess, true);
  assert.deepEqual(plainInfo.lifecycle, { onTimeout: 'kill', autoResume: false });
  assert.deepEqual(plainInfo.network.allowOut, []);
  const [listed] = await Sandbox.list({ query: { metadata: { suite: 'parity-info' } } }).nextItems();
  assert.equal(listed.sandboxId, sbx.sandboxId);
  assert.deepEqual(listed.volumeMounts, []);
});

test('updateNetwork replaces the whole egress policy, and getInfo shows it', async () => {
  const sbx = await Sandbox.create(template, { network: { allowOut: ['10.9.8.7'] } });
  made.push(sbx.sandboxId);
  await sbx.updateNetwork({ allowOut: ['10.1.2.3'], denyOut: [ALL_TRAFFIC] });
  let info = await sbx.getInfo();
  assert.deepEqual(info.network.allowOut, ['10.1.2.3']);
  assert.deepEqual(info.network.denyOut, [ALL_TRAFFIC]);
  await Sandbox.updateNetwork(sbx.sandboxId, { allowInternetAccess: false });
  info = await sbx.getInfo();
  assert.equal(info.allowInternetAccess, false);
  assert.deepEqual(info.network.allowOut, []);
  assert.deepEqual(info.network.denyOut, []);
  // A domain name is taken (the egress proxy judges it); a bad entry is not.
  await assert.rejects(sbx.updateNetwork({ allowOut: ['not an address'] }), /400: .*not an address/);
  await assert.rejects(Sandbox.updateNetwork('nosuchsandbox0000000', {}), SandboxNotFoundError);
});

test('list: template, startedAfter (at or after) and order, with pages in either order', async () => {
  const query = { metadata: { suite: 'parity-list' } };
  const a = await Sandbox.create(template, query);
  made.push(a.sandboxId);
  const b = await Sandbox.create(template, query);
  made.push(b.sandboxId);
  const ids = (items) => items.map((s) => s.sandboxId);
  assert.deepEqual(ids(await Sandbox.list({ query }).nextItems()), [b.sandboxId, a.sandboxId]);
  assert.deepEqual(ids(await Sandbox.list({ query, order: 'asc' }).nextItems()), [a.sandboxId, b.sandboxId]);
  const pager = Sandbox.list({ query, order: 'asc', limit: 1 });
  const page1 = await pager.nextItems();
  assert.equal(pager.hasNext, true);
  const page2 = await pager.nextItems();
  assert.equal(pager.hasNext, false);
  assert.deepEqual(ids([...page1, ...page2]), [a.sandboxId, b.sandboxId]);
  assert.equal((await Sandbox.list({ query: { ...query, template } }).nextItems()).length, 2);
  assert.equal((await Sandbox.list({ query: { ...query, template: 'base' } }).nextItems()).length, 0);
  const startedA = (await a.getInfo()).startedAt;
  const at = await Sandbox.list({ query: { ...query, startedAfter: startedA } }).nextItems();
  assert.deepEqual(ids(at), [b.sandboxId, a.sandboxId]);
  const after = await Sandbox.list({ query: { ...query, startedAfter: new Date(startedA.getTime() + 1) } }).nextItems();
  assert.deepEqual(ids(after), [b.sandboxId]);
});

test('getMetrics carries the guest page cache (memCache)', async () => {
  const sbx = await Sandbox.create(template);
  made.push(sbx.sandboxId);
  const metrics = await sbx.getMetrics();
  assert.ok(metrics.length >= 1);
  const m = metrics.at(-1);
  assert.equal(typeof m.memCache, 'number');
  assert.ok(m.memCache > 0 && m.memCache < m.memTotal, JSON.stringify(m));
});

test('what Cove does not serve fails with 501 and says so, never as not found', async () => {
  const teams = await fetch(`${process.env.E2B_API_URL}/teams`, { headers: { 'X-API-KEY': process.env.E2B_API_KEY } });
  assert.equal(teams.status, 501);
  assert.match((await teams.json()).message, /^not supported by Cove: GET \/teams$/);
  // A create asking for what Cove has nothing behind yet (an MCP gateway)
  // is refused, not run without it.
  await assert.rejects(Sandbox.create('tiny', { mcp: { exa: { apiKey: 'x' } } }), (e) =>
    /^501: not supported by Cove: mcp/.test(e.message));
});
