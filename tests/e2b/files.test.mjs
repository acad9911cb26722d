// The official E2B JS SDK's files API against cove-agent on the host
// (loopback), in a scratch directory of the test's own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAgent } from './agent.mjs';
import { mkdtempSync, rmSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let agent;
let sbx;
let dir;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cove-files-'));
  ({ agent, sbx } = await startAgent());
});

after(() => {
  agent?.kill();
  rmSync(dir, { recursive: true, force: true });
});

test('write then read text', async () => {
  const p = join(dir, 'hello.txt');
  const info = await sbx.files.write(p, 'hello, cove\n');
  assert.equal(info.path, p);
  assert.equal(info.name, 'hello.txt');
  assert.equal(await sbx.files.read(p), 'hello, cove\n');
  assert.equal(readFileSync(p, 'utf8'), 'hello, cove\n');
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
  assert.equal(readFileSync(p, 'utf8'), 'compressed on the wire\n'.repeat(1000));
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
  assert.equal(info.owner, 'root');
  assert.ok(info.modifiedTime instanceof Date && Math.abs(Date.now() - info.modifiedTime.getTime()) < 60000);
});

test('symlinks are reported as such, with their target', async () => {
  const target = join(dir, 'info.txt');
  const link = join(dir, 'link');
  symlinkSync(target, link);
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
