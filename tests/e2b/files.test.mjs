// The official E2B JS SDK's files API against a Cove agent (on the host, or
// in a real guest: see agent.mjs), in a scratch directory of the test's own.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAgent, plainFetch, guestMode } from './agent.mjs';
import { join } from 'node:path';

let agent;
let sbx;
let dir;
let local;

before(async () => {
  ({ agent, sbx, local } = await startAgent());
  dir = await local.mkdtemp('cove-files-');
});

// A request to the agent's REST API beside the SDK's (the SDK has no call
// for /files/compose): the sandbox's token, when it has one.
function envdFetch(path, init = {}) {
  const headers = { ...(init.headers ?? {}) };
  if (sbx.envdAccessToken) headers['X-Access-Token'] = sbx.envdAccessToken;
  return plainFetch(sbx, new URL(path, sbx.envdDirectUrl), { ...init, headers });
}

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

// As envd: a symlink's target resolved through every link to an absolute
// path, its type and mode those of what it points to; its own name, path and
// permissions string (Go's "L" for a link).
test('symlinks: the target absolute and resolved, the type and mode of what they point to', async () => {
  const target = join(dir, 'info.txt');
  await local.symlink('info.txt', join(dir, 'link')); // relative, as `ln -s info.txt link`
  await local.symlink('link', join(dir, 'link-to-link'));
  await sbx.files.makeDir(join(dir, 'linked-dir'));
  await local.symlink(join(dir, 'linked-dir'), join(dir, 'link-dir'));
  await local.symlink(join(dir, 'never-there'), join(dir, 'dangling'));
  for (const name of ['link', 'link-to-link']) {
    const info = await sbx.files.getInfo(join(dir, name));
    assert.equal(info.name, name);
    assert.equal(info.path, join(dir, name));
    assert.equal(info.symlinkTarget, target);
    assert.equal(info.type, 'file');
    assert.equal(info.mode, 0o644);
    assert.equal(info.permissions, 'Lrwxrwxrwx');
  }
  const d = await sbx.files.getInfo(join(dir, 'link-dir'));
  assert.equal(d.symlinkTarget, join(dir, 'linked-dir'));
  assert.equal(d.type, 'dir');
  const dangling = await sbx.files.getInfo(join(dir, 'dangling'));
  assert.equal(dangling.symlinkTarget, join(dir, 'dangling'));
  assert.equal(dangling.type, undefined);
  assert.equal((await sbx.files.getInfo(target)).symlinkTarget, undefined);
  const listed = (await sbx.files.list(dir)).find((e) => e.name === 'link');
  assert.equal(listed.symlinkTarget, target);
  assert.equal(listed.type, 'file');
  for (const name of ['link', 'link-to-link', 'link-dir', 'dangling', 'linked-dir']) await sbx.files.remove(join(dir, name));
});

test('makeDir, and again on an existing directory returns false', async () => {
  const p = join(dir, 'made/deep');
  assert.equal(await sbx.files.makeDir(p), true);
  assert.equal(await sbx.files.makeDir(p), false);
  assert.equal((await sbx.files.getInfo(p)).type, 'dir');
});

// envd walks as Go's filepath.WalkDir: names in byte order, each directory
// followed at once by its entries (down to the depth asked for).
test('list order and depth as envd: byte order, each directory followed by its children', async () => {
  const t = join(dir, 'tree');
  await sbx.files.write(join(t, 'c/d/deep/leaf.txt'), 'x');
  for (const f of ['a.txt', 'B.txt', 'c-1.txt', 'c/e.txt']) await sbx.files.write(join(t, f), 'x');
  const rel = async (opts) => (await sbx.files.list(t, opts)).map((e) => e.path.slice(t.length + 1));
  assert.deepEqual(await rel(), ['B.txt', 'a.txt', 'c', 'c-1.txt']);
  assert.deepEqual(await rel({ depth: 1 }), ['B.txt', 'a.txt', 'c', 'c-1.txt']);
  assert.deepEqual(await rel({ depth: 2 }), ['B.txt', 'a.txt', 'c', 'c/d', 'c/e.txt', 'c-1.txt']);
  assert.deepEqual(await rel({ depth: 3 }), ['B.txt', 'a.txt', 'c', 'c/d', 'c/d/deep', 'c/e.txt', 'c-1.txt']);
  const types = (await sbx.files.list(t, { depth: 2 })).map((e) => e.type);
  assert.deepEqual(types, ['file', 'file', 'dir', 'dir', 'file', 'file']);
  // The paths build on the path asked for, cleaned.
  assert.deepEqual((await sbx.files.list(`${t}//c/./`)).map((e) => e.path), [join(t, 'c/d'), join(t, 'c/e.txt')]);
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

test('remove of a path that is not there succeeds, as envd', async () => {
  await sbx.files.remove(join(dir, 'never-there.txt'));
  await sbx.files.remove(join(dir, 'no/such/dir'));
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

test('files.write over an existing file writes it in place: same inode, mode kept, a watcher sees a write', async () => {
  const root = join(dir, 'in-place');
  const p = join(root, 'file.txt');
  await sbx.files.write(p, 'first version, the longer one\n');
  const inode = async () => (await sbx.commands.run(`stat -c %i '${p}'`)).stdout.trim();
  const before = await inode();
  await sbx.commands.run(`chmod 600 '${p}'`);
  const events = [];
  const handle = await sbx.files.watchDir(root, (e) => events.push(`${e.type}:${e.name}`));
  await sbx.files.write(p, 'second\n');
  for (let i = 0; i < 100 && !events.includes('write:file.txt'); i++) await new Promise((r) => setTimeout(r, 20));
  await handle.stop();
  assert.ok(events.includes('write:file.txt'), JSON.stringify(events));
  assert.ok(!events.includes('create:file.txt') && !events.includes('rename:file.txt'), JSON.stringify(events));
  assert.equal(await inode(), before);
  assert.equal(await sbx.files.read(p), 'second\n');
  const info = await sbx.files.getInfo(p);
  assert.equal(info.mode, 0o600);
  assert.equal(info.size, 7);
});

test('files.write makes missing parent directories, each owned by the writing user', async () => {
  const p = join(dir, 'made-by-nobody/a/b/file.txt');
  await sbx.files.write(p, 'deep', { user: 'nobody' });
  for (const d of ['made-by-nobody', 'made-by-nobody/a', 'made-by-nobody/a/b', 'made-by-nobody/a/b/file.txt']) {
    assert.equal((await sbx.files.getInfo(join(dir, d))).owner, 'nobody', d);
  }
  assert.equal((await sbx.files.getInfo(dir)).owner === 'nobody', false); // an existing one is left as it was
});

test('POST /files/compose joins three uploaded parts in order, removes them, answers EntryInfo', async () => {
  const parts = ['part-0', 'part-1', 'part-2'].map((n) => join(dir, 'compose', n));
  const pieces = ['one, ', 'two, ', 'three\n'.repeat(10000)];
  await sbx.files.write(parts.map((path, i) => ({ path, data: pieces[i] })));
  const dest = join(dir, 'compose/out/whole.txt');
  const res = await envdFetch('/files/compose', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ source_paths: parts, destination: dest }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.deepEqual(await res.json(), { path: dest, name: 'whole.txt', type: 'file' });
  assert.equal(await sbx.files.read(dest), pieces.join(''));
  for (const part of parts) assert.equal(await sbx.files.exists(part), false);
  const info = await sbx.files.getInfo(dest);
  assert.equal(info.owner, (await sbx.commands.run('id -un')).stdout.trim());
  assert.equal(info.permissions, '-rw-r--r--');
  // A source that is missing: 404 in envd's error shape, and nothing changes.
  const missing = await envdFetch('/files/compose', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ source_paths: [join(dir, 'compose/none')], destination: dest }),
  });
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), { code: 404, message: `source file not found: ${join(dir, 'compose/none')}` });
  assert.equal(await sbx.files.read(dest), pieces.join(''));
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

// The guest's /dev/shm (tmpfs, Linux 6.1) takes no user.* xattrs: an
// upload with metadata there is refused, and leaves the file's owner as it
// was. (The host's tmpfs takes them, so this is for a guest only.)
test('an upload whose metadata is refused changes nothing, its owner included', { skip: !guestMode && 'a guest\'s tmpfs only' }, async () => {
  const p = '/dev/shm/metadata-refused.txt';
  await sbx.files.write(p, 'root owns it', { user: 'root' });
  await assert.rejects(sbx.files.write(p, 'x', { metadata: { a: 'b' } }), (e) =>
    e.name === 'InvalidArgumentError' && /set metadata on .*Operation not supported/.test(e.message));
  assert.equal((await sbx.commands.run(`stat -c %U ${p}`, { user: 'root' })).stdout.trim(), 'root');
  assert.equal(await sbx.files.read(p, { user: 'root' }), 'root owns it');
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
