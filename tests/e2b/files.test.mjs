// The official E2B JS SDK's files API against a Cove agent (on the host, or
// in a real guest: see agent.mjs), in a scratch directory of the test's own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAgent, plainFetch } from './agent.mjs';
import { join } from 'node:path';

let agent;
let sbx;
let dir;
let local;

before(async () => {
  ({ agent, sbx, local } = await startAgent());
  dir = await local.mkdtemp('cove-files-');
});

after(async () => {
  await local?.rm(dir);
  agent?.kill();
});

test('write then read text', async () => {
  const p = join(dir, 'hello.txt');
  const info = await sbx.files.write(p, 'hello, cove\n');
  assert.equal(info.path, p);
  assert.equal(info.name, 'hello.txt');
  assert.equal(await sbx.files.read(p), 'hello, cove\n');
  assert.equal(await local.readFile(p), 'hello, cove\n');
});

test('write then read bytes, all 256 values, creating parent directories', async () => {
  const p = join(dir, 'a/b/c/bytes.bin');
  const data = new Uint8Array(256 * 64).map((_, i) => i % 256);
  await sbx.files.write(p, data);
  const back = await sbx.files.read(p, { format: 'bytes' });
  assert.deepEqual(Buffer.from(back), Buffer.from(data));
});

test('a gzip download arrives decoded and whole', async () => {
  const p = join(dir, 'gzdown.txt');
  const text = 'compress me on the way out\n'.repeat(5000);
  await sbx.files.write(p, text);
  assert.equal(await sbx.files.read(p, { gzip: true }), text);
});

test('a gzip-encoded upload is stored decoded', async () => {
  const p = join(dir, 'gz.txt');
  await sbx.files.write(p, 'compressed on the wire\n'.repeat(1000), { gzip: true });
  assert.equal(await local.readFile(p), 'compressed on the wire\n'.repeat(1000));
});

test('exists, getInfo and its fields', async () => {
  const p = join(dir, 'info.txt');
  await sbx.files.write(p, '12345');
  assert.equal(await sbx.files.exists(p), true);
  assert.equal(await sbx.files.exists(join(dir, 'nope')), false);
  const info = await sbx.files.getInfo(p);
  assert.equal(info.name, 'info.txt');
  assert.equal(info.type, 'file');
  assert.equal(info.size, 5);
  assert.equal(info.permissions, '-rw-r--r--');
  // The default user's: root for an agent on the host, `user` in a base guest.
  assert.equal(info.owner, (await sbx.commands.run('id -un')).stdout.trim());
  assert.ok(info.modifiedTime instanceof Date && Math.abs(Date.now() - info.modifiedTime.getTime()) < 60000);
});

test('symlinks are reported as such, with their target', async () => {
  const target = join(dir, 'info.txt');
  const link = join(dir, 'link');
  await local.symlink(target, link);
  const info = await sbx.files.getInfo(link);
  assert.equal(info.symlinkTarget, target);
});

test('makeDir, and again on an existing directory returns false', async () => {
  const p = join(dir, 'made/deep');
  assert.equal(await sbx.files.makeDir(p), true);
  assert.equal(await sbx.files.makeDir(p), false);
  assert.equal((await sbx.files.getInfo(p)).type, 'dir');
});

test('list with depth', async () => {
  await sbx.files.write(join(dir, 'tree/one/two/leaf.txt'), 'x');
  const shallow = await sbx.files.list(join(dir, 'tree'));
  assert.deepEqual(shallow.map((e) => e.name), ['one']);
  const deep = await sbx.files.list(join(dir, 'tree'), { depth: 3 });
  assert.deepEqual(deep.map((e) => e.path).sort(), [
    join(dir, 'tree/one'), join(dir, 'tree/one/two'), join(dir, 'tree/one/two/leaf.txt'),
  ]);
});

test('rename and remove', async () => {
  const a = join(dir, 'before.txt');
  const b = join(dir, 'after.txt');
  await sbx.files.write(a, 'moving');
  const info = await sbx.files.rename(a, b);
  assert.equal(info.path, b);
  assert.equal(await sbx.files.exists(a), false);
  assert.equal(await sbx.files.read(b), 'moving');
  await sbx.files.remove(b);
  assert.equal(await sbx.files.exists(b), false);
  await sbx.files.remove(join(dir, 'tree'));
  assert.equal(await sbx.files.exists(join(dir, 'tree')), false);
});

test('reading a missing file is a not-found error', async () => {
  await assert.rejects(sbx.files.read(join(dir, 'missing.txt')), /not found|NotFound/i);
});

test('watchDir streams create, write, rename, remove, also in subdirectories made later', async () => {
  const root = join(dir, 'watched');
  await sbx.files.makeDir(root);
  const events = [];
  const handle = await sbx.files.watchDir(root, (e) => events.push(`${e.type}:${e.name}`), { recursive: true });
  await sbx.files.write(join(root, 'a.txt'), 'one');
  await sbx.files.rename(join(root, 'a.txt'), join(root, 'b.txt'));
  await sbx.files.makeDir(join(root, 'sub'));
  await new Promise((r) => setTimeout(r, 100)); // let the watch on sub/ be added
  await sbx.files.write(join(root, 'sub/c.txt'), 'two');
  await sbx.files.remove(join(root, 'b.txt'));
  const want = ['create:b.txt', 'rename:a.txt', 'create:sub', 'create:sub/c.txt', 'remove:b.txt'];
  for (let i = 0; i < 100 && !want.every((w) => events.includes(w)); i++) await new Promise((r) => setTimeout(r, 20));
  await handle.stop();
  for (const w of want) assert.ok(events.includes(w), `${w} not in ${JSON.stringify(events)}`);
});

test('watchDir on a missing directory fails', async () => {
  await assert.rejects(sbx.files.watchDir(join(dir, 'no-such-dir'), () => {}));
});

test('user: files written for a user are owned by it', async () => {
  const p = join(dir, 'owned-by-nobody.txt');
  await sbx.files.write(p, 'mine', { user: 'nobody' });
  const info = await sbx.files.getInfo(p);
  assert.equal(info.owner, 'nobody');
  const d = join(dir, 'nobody-dir');
  await sbx.files.makeDir(d, { user: 'nobody' });
  assert.equal((await sbx.files.getInfo(d)).owner, 'nobody');
});

test('metadata written with a file comes back from getInfo and list, and an overwrite replaces it', async () => {
  const p = join(dir, 'with-metadata.txt');
  const info = await sbx.files.write(p, 'x', { metadata: { Author: 'ada', purpose: 'test run' } });
  assert.deepEqual(info.metadata, { author: 'ada', purpose: 'test run' });
  assert.deepEqual((await sbx.files.getInfo(p)).metadata, { author: 'ada', purpose: 'test run' });
  const listed = (await sbx.files.list(dir)).find((e) => e.path === p);
  assert.deepEqual(listed.metadata, { author: 'ada', purpose: 'test run' });
  await sbx.files.write(p, 'y', { metadata: { other: '1' } });
  assert.deepEqual((await sbx.files.getInfo(p)).metadata, { other: '1' });
  await sbx.files.write(p, 'z');
  assert.equal((await sbx.files.getInfo(p)).metadata, undefined);
});

test('uploadUrl and downloadUrl work with plain HTTP (signed when the sandbox has a token)', async () => {
  const p = join(dir, 'via-url.txt');
  const up = await sbx.uploadUrl(p);
  const form = new FormData();
  form.append('file', new Blob(['through a URL\n']), 'via-url.txt');
  const res = await plainFetch(sbx, up, { method: 'POST', body: form });
  assert.equal(res.status, 200, await res.clone().text());
  const down = await sbx.downloadUrl(p);
  assert.equal(await (await plainFetch(sbx, down)).text(), 'through a URL\n');
  if (sbx.envdAccessToken) {
    assert.match(down, /signature=v1_/);
    // A signature is for one path and one operation.
    const other = new URL(down);
    other.searchParams.set('path', '/etc/shadow');
    assert.equal((await plainFetch(sbx, other)).status, 401);
    const expiring = await sbx.downloadUrl(p, { useSignatureExpiration: 60 });
    assert.match(expiring, /signature_expiration=/);
    assert.equal(await (await plainFetch(sbx, expiring)).text(), 'through a URL\n');
  }
});
