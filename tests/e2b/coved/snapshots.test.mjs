// Snapshots through the official E2B JS SDK against a real coved
// (tests/integration/e2b_coved.sh starts it), as E2B's own snapshot-api
// test runs them: sbx.createSnapshot() with and without a name,
// Sandbox.create(snapshotId) twice and each on its own, Sandbox.listSnapshots
// and sbx.listSnapshots() with their filters and pages, deleteSnapshot
// (true, then false), and a file system carried over whole. And what Cove
// adds: the source runs on, a process and the environment carry over (the
// environment through a reboot too), a name given again moves to the new
// snapshot.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const { Sandbox, SandboxNotFoundError } = createRequire(`${process.env.COVE_NODE_DIR}/`)('e2b');
const template = 'base';
const made = [];
const snapshots = [];

after(async () => {
  for (const id of made) await Sandbox.kill(id).catch(() => {});
  for (const id of snapshots) await Sandbox.deleteSnapshot(id).catch(() => {});
});

async function source(opts = {}) {
  const sbx = await Sandbox.create(template, opts);
  made.push(sbx.sandboxId);
  return sbx;
}

async function from(snapshotId, opts = {}) {
  const sbx = await Sandbox.create(snapshotId, opts);
  made.push(sbx.sandboxId);
  return sbx;
}

async function snapshotOf(sbx, opts) {
  const snap = await sbx.createSnapshot(opts);
  snapshots.push(snap.snapshotId);
  return snap;
}

test('createSnapshot: an id, no names, and the sandbox runs on', async () => {
  const sbx = await source();
  await sbx.files.write('/home/user/test.txt', 'snapshot test content');
  const snap = await snapshotOf(sbx);
  assert.match(snap.snapshotId, /^[a-z0-9]{20}:default$/);
  assert.deepEqual(snap.names, []);
  assert.equal(await sbx.isRunning(), true);
  assert.equal((await sbx.getInfo()).state, 'running');
  assert.equal((await sbx.commands.run('cat /home/user/test.txt')).stdout, 'snapshot test content');
});

test('a sandbox created from a snapshot carries on from it: files, a process, its environment', async () => {
  const sbx = await source({ envs: { FROM_SOURCE: 'kept' } });
  await sbx.files.write('/home/user/test.txt', 'content from original sandbox');
  const bg = await sbx.commands.run('sleep 3600', { background: true });
  const snap = await snapshotOf(sbx);
  const child = await from(snap.snapshotId, { envs: { FROM_CREATE: 'added' } });
  assert.notEqual(child.sandboxId, sbx.sandboxId);
  assert.equal(await child.files.read('/home/user/test.txt'), 'content from original sandbox');
  assert.equal((await child.commands.run(`kill -0 ${bg.pid} && echo alive`)).stdout.trim(), 'alive');
  assert.equal((await child.commands.run('echo $FROM_SOURCE $FROM_CREATE')).stdout.trim(), 'kept added');
  const info = await child.getInfo();
  assert.equal(info.templateId, snap.snapshotId);
  assert.equal(info.state, 'running');
  assert.notEqual(child.envdAccessToken, sbx.envdAccessToken);
});

test('one made from a snapshot keeps the whole environment through a reboot (a filesystem-only pause)', async () => {
  const sbx = await source({ envs: { FROM_SOURCE: 'kept', BOTH: 'source' } });
  const snap = await snapshotOf(sbx);
  const child = await from(snap.snapshotId, { envs: { FROM_CREATE: 'added', BOTH: 'create' } });
  const bootId = async () => (await child.commands.run('cat /proc/sys/kernel/random/boot_id')).stdout.trim();
  const before = await bootId();
  await child.pause({ keepMemory: false });
  await child.connect();
  assert.notEqual(await bootId(), before);
  assert.equal((await child.commands.run('echo $FROM_SOURCE $FROM_CREATE $BOTH')).stdout.trim(), 'kept added create');
});

test('two sandboxes from one snapshot each go their own way', async () => {
  const sbx = await source();
  await sbx.files.write('/home/user/shared.txt', 'shared snapshot content');
  const snap = await snapshotOf(sbx);
  const [one, two] = [await from(snap.snapshotId), await from(snap.snapshotId)];
  assert.equal(await one.files.read('/home/user/shared.txt'), 'shared snapshot content');
  assert.equal(await two.files.read('/home/user/shared.txt'), 'shared snapshot content');
  await one.files.write('/home/user/shared.txt', 'modified in sandbox1');
  assert.equal(await one.files.read('/home/user/shared.txt'), 'modified in sandbox1');
  assert.equal(await two.files.read('/home/user/shared.txt'), 'shared snapshot content');
  assert.equal(await sbx.files.read('/home/user/shared.txt'), 'shared snapshot content');
  // Each has its own random numbers (the RNG reseeded).
  const r1 = (await one.commands.run('head -c 16 /dev/urandom | od -An -tx1')).stdout;
  const r2 = (await two.commands.run('head -c 16 /dev/urandom | od -An -tx1')).stdout;
  assert.notEqual(r1, r2);
});

test('listSnapshots finds it; sbx.listSnapshots() lists only that sandbox\'s', async () => {
  const a = await source();
  const b = await source();
  const sa = await snapshotOf(a);
  const sb = await snapshotOf(b);
  const paginator = Sandbox.listSnapshots();
  assert.equal(paginator.hasNext, true);
  const all = await paginator.nextItems();
  assert.ok(Array.isArray(all));
  assert.ok(all.find((s) => s.snapshotId === sa.snapshotId));
  // Newest first.
  assert.ok(all.findIndex((s) => s.snapshotId === sb.snapshotId) < all.findIndex((s) => s.snapshotId === sa.snapshotId));
  const mine = await a.listSnapshots().nextItems();
  assert.deepEqual(mine.map((s) => s.snapshotId), [sa.snapshotId]);
});

test('listSnapshots pages with limit and nextToken', async () => {
  const sbx = await source();
  const first = await snapshotOf(sbx);
  const second = await snapshotOf(sbx);
  const pager = sbx.listSnapshots({ limit: 1 });
  const page1 = await pager.nextItems();
  assert.equal(pager.hasNext, true);
  const page2 = await pager.nextItems();
  assert.equal(pager.hasNext, false);
  assert.deepEqual([...page1, ...page2].map((s) => s.snapshotId), [second.snapshotId, first.snapshotId]);
});

test('a named snapshot: its names, listed by name (an unknown one lists none), created from by name', async () => {
  const sbx = await source();
  const name = `snap-${process.pid}`;
  await sbx.files.write('/home/user/v.txt', 'one');
  const snap = await snapshotOf(sbx, { name });
  assert.equal(snap.snapshotId, `${name}:default`);
  assert.ok(snap.names.length > 0);
  assert.ok(snap.names.some((n) => n.includes(name)));
  const listed = await Sandbox.listSnapshots({ name }).nextItems();
  assert.deepEqual(listed.map((s) => s.snapshotId), [snap.snapshotId]);
  assert.deepEqual(await Sandbox.listSnapshots({ name: `${name}-does-not-exist` }).nextItems(), []);
  const child = await from(name);
  assert.equal(await child.files.read('/home/user/v.txt'), 'one');
  // The name given again moves to the new snapshot.
  await sbx.files.write('/home/user/v.txt', 'two');
  const again = await snapshotOf(sbx, { name });
  assert.equal(again.snapshotId, snap.snapshotId);
  assert.equal((await Sandbox.listSnapshots({ name }).nextItems()).length, 1);
  assert.equal(await (await from(name)).files.read('/home/user/v.txt'), 'two');
  // A tag is a name of its own.
  const tagged = await snapshotOf(sbx, { name: `${name}:v1` });
  assert.equal(tagged.snapshotId, `${name}:v1`);
  assert.deepEqual(tagged.names, [`${name}:v1`]);
  assert.equal((await Sandbox.listSnapshots({ name }).nextItems()).length, 2);
  assert.equal((await Sandbox.listSnapshots({ name: `${name}:v1` }).nextItems()).length, 1);
});

test('deleteSnapshot: true, then false; a create from it is refused', async () => {
  const sbx = await source();
  const snap = await sbx.createSnapshot();
  assert.equal(await Sandbox.deleteSnapshot(snap.snapshotId), true);
  assert.equal(await Sandbox.deleteSnapshot(snap.snapshotId), false);
  await assert.rejects(Sandbox.create(snap.snapshotId), /not found/);
  assert.equal((await sbx.listSnapshots().nextItems()).length, 0);
});

test('a snapshot preserves the file system', async () => {
  const sbx = await source();
  const appDir = '/home/user/app';
  await sbx.files.makeDir(appDir);
  await sbx.files.write(`${appDir}/config.json`, '{"env": "test"}');
  await sbx.files.write(`${appDir}/data.txt`, 'important data');
  const snap = await snapshotOf(sbx);
  const child = await from(snap.snapshotId);
  assert.equal(await child.files.exists(appDir), true);
  assert.equal(await child.files.read(`${appDir}/config.json`), '{"env": "test"}');
  assert.equal(await child.files.read(`${appDir}/data.txt`), 'important data');
});

test('a snapshot of an unknown sandbox is SandboxNotFoundError', async () => {
  await assert.rejects(Sandbox.createSnapshot('nosuchsandbox0000000'), SandboxNotFoundError);
});
