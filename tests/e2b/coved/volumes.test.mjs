// Volumes through the official E2B JS SDK against a real coved
// (tests/integration/e2b_coved.sh starts it, and exports COVE_STATE_DIR).
// The control API, with the API key: Volume.create (a vol_ id, a token;
// a name taken is a 409, a name outside the rule a 400), list (oldest
// first), getInfo, connect, destroy (true, then false). The content API,
// which the SDK sends to E2B_VOLUME_API_URL (coved serves it at its own
// address) with the volume's token: writeFile, readFile in every format,
// makeDir, list, getInfo, exists, updateMetadata, remove, each checked on
// the host too (a volume is a file system of its own mounted at
// STATE_DIR/volumes/ID, its root owned by 1000:1000, mode 0755, empty). And what Cove promises: a token opens its own
// volume alone; no symlink, '..', FIFO or device node a guest leaves in a
// volume takes the host outside it or hangs it; volumes outlive a coved
// killed with SIGKILL (COVE_RESTART_COVED). Mounting volumes into
// sandboxes: mounts.test.mjs.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

const { Volume, VolumeError, VolumeNotFoundError, VolumePathNotFoundError, AuthenticationError, Sandbox, SandboxError } =
  createRequire(`${process.env.COVE_NODE_DIR}/`)('e2b');
// coved serves the volume content API at the same address as the rest.
if (process.env.E2B_API_URL) process.env.E2B_VOLUME_API_URL = process.env.E2B_API_URL;
const stateDir = process.env.COVE_STATE_DIR;
// In every name this file gives, so that a second run against the same
// coved meets none of the first's.
const RUN = randomBytes(3).toString('hex');
const made = new Set(); // volume ids, in the order they were made
const sandboxes = [];

after(async () => {
  for (const id of sandboxes) await Sandbox.kill(id).catch(() => {});
  for (const id of made) await Volume.destroy(id).catch(() => {});
});

// For the tests that look at (or make things in) a volume's directory on
// the host: it is owned by uid 1000 and STATE_DIR/volumes is root's.
function onHost() {
  if (!stateDir) return { skip: 'COVE_STATE_DIR is unset (tests/integration/e2b_coved.sh sets it)' };
  if (process.getuid() !== 0) return { skip: 'needs root: a volume directory is owned by uid 1000' };
  return {};
}

async function fresh(label) {
  const vol = await Volume.create(`cove-test-${label}-${RUN}`);
  made.add(vol.volumeId);
  return vol;
}

const dirOf = (id) => join(stateDir, 'volumes', id);
const onDisk = (vol, path) => join(dirOf(vol.volumeId), path);
const perm = (mode) => mode & 0o7777;
const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const lexists = (path) => {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
};

// Owner and permission bits, of an entry the SDK returned or of a host path
// (not following a symlink).
function owner(x) {
  const st = typeof x === 'string' ? lstatSync(x) : x;
  return { uid: st.uid, gid: st.gid, mode: perm(st.mode) };
}

// A refusal by coved with this status: the SDK's VolumeError, "STATUS: ...".
function refused(status) {
  return (e) => {
    assert.ok(e instanceof VolumeError, `${e}`);
    assert.match(e.message, new RegExp(`^${status}: `));
    return true;
  };
}

async function drain(stream) {
  const reader = stream.getReader();
  const chunks = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks);
    chunks.push(value);
  }
}

// The raw reply of a request, for what the SDK does not show.
async function raw(method, path, { body, headers = { 'X-API-KEY': process.env.E2B_API_KEY } } = {}) {
  const res = await fetch(`${process.env.E2B_API_URL}${path}`, {
    method,
    headers: { ...headers, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}

// --- the control API ---

test('create: a vol_ id, the name and a token; its directory is owned by 1000:1000, mode 0755', onHost(), async () => {
  const name = `cove-test-create-${RUN}`;
  const vol = await Volume.create(name);
  made.add(vol.volumeId);
  assert.ok(vol instanceof Volume);
  assert.match(vol.volumeId, /^vol_[0-9a-f]{24}$/);
  assert.equal(vol.name, name);
  assert.equal(typeof vol.token, 'string');
  assert.ok(vol.token.length >= 16, `a token this short: ${vol.token}`);
  assert.ok(statSync(dirOf(vol.volumeId)).isDirectory());
  assert.deepEqual(owner(dirOf(vol.volumeId)), { uid: 1000, gid: 1000, mode: 0o755 });
  // Its own file system (an NFS export of it reaches nothing else), empty.
  assert.notEqual(statSync(dirOf(vol.volumeId)).dev, statSync(dirname(dirOf(vol.volumeId))).dev);
  assert.deepEqual(readdirSync(dirOf(vol.volumeId)), []);

  const info = await Volume.getInfo(vol.volumeId);
  assert.equal(info.volumeId, vol.volumeId);
  assert.equal(info.name, name);
  assert.equal(typeof info.token, 'string');
  const connected = await Volume.connect(vol.volumeId);
  assert.ok(connected instanceof Volume);
  assert.equal(connected.volumeId, vol.volumeId);
  assert.equal(connected.name, name);
  // Whichever token getInfo and connect give, it opens this volume.
  await vol.writeFile('/hello.txt', 'hello');
  assert.equal(await connected.readFile('/hello.txt'), 'hello');
  assert.equal(await new Volume(vol.volumeId, name, info.token).readFile('/hello.txt'), 'hello');

  const other = await fresh('create-other');
  assert.notEqual(other.volumeId, vol.volumeId);
  assert.notEqual(other.token, vol.token);

  // What the SDK reads from: 201 {volumeID, name, token}.
  const reply = await raw('POST', '/volumes', { body: { name: `cove-test-raw-${RUN}` } });
  assert.equal(reply.status, 201, reply.text);
  const body = JSON.parse(reply.text);
  if (body.volumeID) made.add(body.volumeID);
  assert.match(body.volumeID, /^vol_[0-9a-f]{24}$/);
  assert.equal(body.name, `cove-test-raw-${RUN}`);
  assert.equal(typeof body.token, 'string');
});

test('create: a name taken is a 409; names other than 1 to 63 letters, digits and - are a 400', async () => {
  const vol = await fresh('taken');
  await assert.rejects(Volume.create(vol.name), refused(409));
  const bad = ['', 'a_b', 'a.b', 'a b', 'a/b', '../x', 'ünï', 'a\nb', 'x'.repeat(64)];
  for (const name of bad) await assert.rejects(Volume.create(name), refused(400), JSON.stringify(name));
  for (const name of ['X'.repeat(63), `Cove-Test-9-${RUN}`, '7']) {
    const ok = await Volume.create(name);
    made.add(ok.volumeId);
    assert.equal(ok.name, name);
  }
  const names = (await Volume.list()).map((v) => v.name);
  assert.equal(names.filter((n) => n === vol.name).length, 1);
  for (const name of bad) assert.ok(!names.includes(name), JSON.stringify(name));
});

test('list: every volume, oldest first, as {volumeId, name}', async () => {
  for (let i = 0; i < 3; i++) await fresh(`order-${i}`);
  const listed = await Volume.list();
  for (const v of listed) assert.deepEqual(Object.keys(v).sort(), ['name', 'volumeId']);
  const ids = listed.map((v) => v.volumeId);
  // Every volume this file has made so far, in the order it made them.
  assert.deepEqual(ids.filter((id) => made.has(id)), [...made]);
  const mine = listed.filter((v) => v.name.startsWith('cove-test-order-'));
  assert.deepEqual(mine.map((v) => v.name), [0, 1, 2].map((i) => `cove-test-order-${i}-${RUN}`));
});

test('getInfo, connect and destroy of an unknown id: VolumeNotFoundError, and false', async () => {
  const unknown = `vol_${'0'.repeat(24)}`;
  await assert.rejects(Volume.getInfo(unknown), VolumeNotFoundError);
  await assert.rejects(Volume.connect(unknown), VolumeNotFoundError);
  assert.equal(await Volume.destroy(unknown), false);
});

test('destroy: true, then false; its directory is gone, its token opens nothing, its name is free', onHost(), async () => {
  const vol = await fresh('gone');
  await vol.writeFile('/a/b/c.txt', 'c');
  await vol.makeDir('/private', { uid: 2000, gid: 2000, mode: 0o700 });
  assert.ok(existsSync(onDisk(vol, 'a/b/c.txt')));
  assert.equal(await Volume.destroy(vol.volumeId), true);
  made.delete(vol.volumeId);
  assert.equal(await Volume.destroy(vol.volumeId), false);
  assert.ok(!lexists(dirOf(vol.volumeId)), 'the directory is still there');
  await assert.rejects(Volume.getInfo(vol.volumeId), VolumeNotFoundError);
  await assert.rejects(Volume.connect(vol.volumeId), VolumeNotFoundError);
  assert.ok(!(await Volume.list()).some((v) => v.volumeId === vol.volumeId));
  await assert.rejects(vol.readFile('/a/b/c.txt'));
  await assert.rejects(vol.writeFile('/new.txt', 'x'));
  assert.ok(!lexists(dirOf(vol.volumeId)), 'a write after destroy made the directory again');
  const again = await Volume.create(vol.name);
  made.add(again.volumeId);
  assert.notEqual(again.volumeId, vol.volumeId);
  assert.deepEqual(await again.list('/'), []);
});

test('the control API needs the API key: anything else is an AuthenticationError', async () => {
  const wrong = { apiKey: `e2b_${'0'.repeat(40)}` };
  const vol = await fresh('key');
  await assert.rejects(Volume.list(wrong), AuthenticationError);
  await assert.rejects(Volume.create(`cove-test-nokey-${RUN}`, wrong), AuthenticationError);
  await assert.rejects(Volume.getInfo(vol.volumeId, wrong), AuthenticationError);
  await assert.rejects(Volume.destroy(vol.volumeId, wrong), AuthenticationError);
  // The volume's token is not the API key.
  await assert.rejects(Volume.list({ apiKey: vol.token }), AuthenticationError);
  assert.equal((await raw('GET', '/volumes', { headers: {} })).status, 401);
  assert.equal((await Volume.getInfo(vol.volumeId)).name, vol.name);
  assert.ok(!(await Volume.list()).some((v) => v.name === `cove-test-nokey-${RUN}`));
});

// --- the content API ---

test("content: a wrong token, none, or another volume's is a 401, and changes nothing", onHost(), async () => {
  const a = await fresh('tok-a');
  const b = await fresh('tok-b');
  await b.writeFile('/kept.txt', 'kept');
  await a.writeFile('/a.txt', 'a');
  for (const token of ['wrong', '', a.token, `${b.token}x`, b.token.slice(0, -1)]) {
    const as = new Volume(b.volumeId, b.name, token);
    const why = `token ${JSON.stringify(token)}`;
    await assert.rejects(as.writeFile('/x.txt', 'x'), AuthenticationError, why);
    await assert.rejects(as.writeFile('/kept.txt', 'overwritten'), AuthenticationError, why);
    await assert.rejects(as.readFile('/kept.txt'), AuthenticationError, why);
    await assert.rejects(as.readFile('/kept.txt', { format: 'stream' }), AuthenticationError, why);
    await assert.rejects(as.list('/'), AuthenticationError, why);
    await assert.rejects(as.getInfo('/kept.txt'), AuthenticationError, why);
    await assert.rejects(as.makeDir('/d', { force: true }), AuthenticationError, why);
    await assert.rejects(as.updateMetadata('/kept.txt', { mode: 0o600 }), AuthenticationError, why);
    await assert.rejects(as.remove('/kept.txt'), AuthenticationError, why);
    // coved locks an address out after 10 refused authorizations in a row
    // (429); a good request forgets them.
    await b.getInfo('/kept.txt');
  }
  // b's token does not open a either.
  await assert.rejects(new Volume(a.volumeId, a.name, b.token).readFile('/a.txt'), AuthenticationError);
  await assert.rejects(new Volume(a.volumeId, a.name, b.token).writeFile('/b.txt', 'b'), AuthenticationError);
  // Nor does the API key, sent as the SDK sends it to the control API.
  const url = `${process.env.E2B_VOLUME_API_URL}/volumecontent/${b.volumeId}/dir?path=%2F`;
  assert.equal((await fetch(url, { headers: { 'X-API-KEY': process.env.E2B_API_KEY } })).status, 401);
  assert.equal((await fetch(url)).status, 401);

  assert.deepEqual((await b.list('/')).map((e) => e.path), ['/kept.txt']);
  assert.equal(await b.readFile('/kept.txt'), 'kept');
  assert.deepEqual(owner(await b.getInfo('/kept.txt')), { uid: 1000, gid: 1000, mode: 0o644 });
  assert.deepEqual(readdirSync(dirOf(b.volumeId)), ['kept.txt']);
  assert.deepEqual(readdirSync(dirOf(a.volumeId)), ['a.txt']);
});

test("writeFile: makes missing parents, returns the entry; new entries take the parent's owner, 0644 and 0755", onHost(), async () => {
  const vol = await fresh('write');
  const before = Date.now();
  const stat = await vol.writeFile('/a/b/c.txt', 'hello');
  assert.equal(stat.name, 'c.txt');
  assert.equal(stat.type, 'file');
  assert.equal(stat.path, '/a/b/c.txt');
  assert.equal(stat.size, 5);
  assert.deepEqual(owner(stat), { uid: 1000, gid: 1000, mode: 0o644 });
  for (const t of [stat.atime, stat.mtime, stat.ctime]) {
    assert.ok(t instanceof Date);
    assert.ok(Math.abs(t.getTime() - before) < 60_000, `${t.toISOString()} is not now`);
  }
  assert.equal(await vol.readFile('/a/b/c.txt'), 'hello');
  assert.equal(readFileSync(onDisk(vol, 'a/b/c.txt'), 'utf8'), 'hello');
  assert.deepEqual(owner(onDisk(vol, 'a')), { uid: 1000, gid: 1000, mode: 0o755 });
  assert.deepEqual(owner(onDisk(vol, 'a/b')), { uid: 1000, gid: 1000, mode: 0o755 });
  assert.deepEqual(owner(onDisk(vol, 'a/b/c.txt')), { uid: 1000, gid: 1000, mode: 0o644 });
  assert.equal((await vol.getInfo('/a/b')).type, 'directory');

  // In a directory of someone else's, what is made is theirs.
  await vol.makeDir('/theirs', { uid: 2000, gid: 3000 });
  const inner = await vol.writeFile('/theirs/deeper/f.txt', 'x');
  assert.deepEqual(owner(inner), { uid: 2000, gid: 3000, mode: 0o644 });
  assert.deepEqual(owner(onDisk(vol, 'theirs')), { uid: 2000, gid: 3000, mode: 0o755 });
  assert.deepEqual(owner(onDisk(vol, 'theirs/deeper')), { uid: 2000, gid: 3000, mode: 0o755 });
  assert.deepEqual(owner(onDisk(vol, 'theirs/deeper/f.txt')), { uid: 2000, gid: 3000, mode: 0o644 });
});

test('writeFile: overwrites by default and with force: true; force: false refuses an existing file (409); never over a directory', onHost(), async () => {
  const vol = await fresh('force');
  await vol.writeFile('/f.txt', 'one');
  assert.equal((await vol.writeFile('/f.txt', 'two!')).size, 4);
  assert.equal(await vol.readFile('/f.txt'), 'two!');
  await assert.rejects(vol.writeFile('/f.txt', 'three', { force: false }), refused(409));
  assert.equal(await vol.readFile('/f.txt'), 'two!');
  assert.equal((await vol.writeFile('/f.txt', 'four', { force: true })).size, 4);
  assert.equal(await vol.readFile('/f.txt'), 'four');
  assert.equal((await vol.writeFile('/new.txt', 'new', { force: false })).type, 'file');
  assert.equal(await vol.readFile('/new.txt'), 'new');

  await vol.writeFile('/dir/inside.txt', 'in');
  await assert.rejects(vol.writeFile('/dir', 'x'), VolumeError);
  await assert.rejects(vol.writeFile('/dir', 'x', { force: true }), VolumeError);
  await assert.rejects(vol.writeFile('/', 'x', { force: true }), VolumeError);
  // A file is no directory to write in.
  await assert.rejects(vol.writeFile('/f.txt/x', 'x'), VolumeError);
  assert.equal((await vol.getInfo('/dir')).type, 'directory');
  assert.equal(await vol.readFile('/dir/inside.txt'), 'in');
  assert.equal(await vol.readFile('/f.txt'), 'four');
  // Nothing half-written left behind by the refusals.
  assert.deepEqual((await vol.list('/')).map((e) => e.path), ['/dir', '/f.txt', '/new.txt']);
  assert.deepEqual(readdirSync(dirOf(vol.volumeId)).sort(), ['dir', 'f.txt', 'new.txt']);
  assert.deepEqual(readdirSync(onDisk(vol, 'dir')), ['inside.txt']);
});

test('writeFile and makeDir with uid, gid and mode: set on the entry, and on the host', onHost(), async () => {
  const vol = await fresh('attrs');
  const file = await vol.writeFile('/run.sh', '#!/bin/sh\n', { uid: 1234, gid: 5678, mode: 0o750 });
  assert.deepEqual(owner(file), { uid: 1234, gid: 5678, mode: 0o750 });
  assert.deepEqual(owner(onDisk(vol, 'run.sh')), { uid: 1234, gid: 5678, mode: 0o750 });
  const dir = await vol.makeDir('/private', { uid: 4321, gid: 8765, mode: 0o700 });
  assert.equal(dir.type, 'directory');
  assert.deepEqual(owner(dir), { uid: 4321, gid: 8765, mode: 0o700 });
  assert.deepEqual(owner(onDisk(vol, 'private')), { uid: 4321, gid: 8765, mode: 0o700 });
  // Only the mode given: the owner is the parent's.
  const modeOnly = await vol.writeFile('/private/secret', 'x', { mode: 0o600 });
  assert.deepEqual(owner(modeOnly), { uid: 4321, gid: 8765, mode: 0o600 });
  assert.deepEqual(owner(onDisk(vol, 'private/secret')), { uid: 4321, gid: 8765, mode: 0o600 });
  assert.deepEqual(owner(await vol.getInfo('/run.sh')), { uid: 1234, gid: 5678, mode: 0o750 });
});

test('readFile: as text, bytes, a blob and a stream; a missing file is VolumePathNotFoundError', async () => {
  const vol = await fresh('read');
  const text = 'héllo, wörld ✓\nline two\n';
  await vol.writeFile('/t.txt', text);
  assert.equal(await vol.readFile('/t.txt'), text);
  assert.equal(await vol.readFile('/t.txt', { format: 'text' }), text);

  const all = Buffer.from(Array.from({ length: 1024 }, (_, i) => i % 256));
  assert.equal((await vol.writeFile('/bin', new Uint8Array(all))).size, 1024);
  const bytes = await vol.readFile('/bin', { format: 'bytes' });
  assert.ok(bytes instanceof Uint8Array);
  assert.deepEqual(Buffer.from(bytes), all);
  const blob = await vol.readFile('/bin', { format: 'blob' });
  assert.ok(blob instanceof Blob);
  assert.deepEqual(Buffer.from(await blob.arrayBuffer()), all);
  assert.deepEqual(await drain(await vol.readFile('/bin', { format: 'stream' })), all);

  // Written from a Blob and an ArrayBuffer too.
  await vol.writeFile('/from-blob', new Blob([all]));
  assert.deepEqual(Buffer.from(await vol.readFile('/from-blob', { format: 'bytes' })), all);
  await vol.writeFile('/from-arraybuffer', all.buffer.slice(all.byteOffset, all.byteOffset + all.length));
  assert.deepEqual(Buffer.from(await vol.readFile('/from-arraybuffer', { format: 'bytes' })), all);

  assert.equal((await vol.writeFile('/empty', '')).size, 0);
  assert.equal(await vol.readFile('/empty'), '');
  assert.equal((await vol.readFile('/empty', { format: 'bytes' })).length, 0);
  assert.equal((await drain(await vol.readFile('/empty', { format: 'stream' }))).length, 0);

  await assert.rejects(vol.readFile('/nope'), VolumePathNotFoundError);
  await assert.rejects(vol.readFile('/nope/deeper', { format: 'bytes' }), VolumePathNotFoundError);
  await assert.rejects(vol.readFile('/nope', { format: 'stream' }), VolumePathNotFoundError);
  // A directory is not read.
  await vol.makeDir('/dir');
  await assert.rejects(vol.readFile('/dir'), VolumeError);
  await assert.rejects(vol.readFile('/'), VolumeError);
});

test('writeFile from a ReadableStream: the SDK streams it (a chunked upload)', async () => {
  const vol = await fresh('upstream');
  const parts = Array.from({ length: 64 }, (_, i) => Buffer.alloc(16 << 10, i));
  let i = 0;
  const stream = new ReadableStream({
    pull(controller) {
      if (i < parts.length) controller.enqueue(new Uint8Array(parts[i++]));
      else controller.close();
    },
  });
  const whole = Buffer.concat(parts);
  const stat = await vol.writeFile('/streamed.bin', stream);
  assert.equal(stat.size, whole.length);
  assert.equal(sha256(await vol.readFile('/streamed.bin', { format: 'bytes' })), sha256(whole));
});

test('a 20 MiB random file round-trips with the same sha256 (bytes, stream, and on the host)', onHost(), async () => {
  const vol = await fresh('big');
  const data = randomBytes(20 << 20);
  const want = sha256(data);
  const stat = await vol.writeFile('/big.bin', new Uint8Array(data.buffer, data.byteOffset, data.length));
  assert.equal(stat.size, 20 << 20);
  const bytes = await vol.readFile('/big.bin', { format: 'bytes' });
  assert.equal(bytes.length, 20 << 20);
  assert.equal(sha256(bytes), want);
  assert.equal(sha256(await drain(await vol.readFile('/big.bin', { format: 'stream' }))), want);
  assert.equal(sha256(readFileSync(onDisk(vol, 'big.bin'))), want);
  assert.equal((await vol.getInfo('/big.bin')).size, 20 << 20);
});

test('makeDir: the parent must exist, an existing entry is a 409; force makes parents and takes an existing directory', async () => {
  const vol = await fresh('mkdir');
  await assert.rejects(vol.makeDir('/x/y'), VolumePathNotFoundError);
  const x = await vol.makeDir('/x');
  assert.equal(x.name, 'x');
  assert.equal(x.path, '/x');
  assert.equal(x.type, 'directory');
  assert.deepEqual(owner(x), { uid: 1000, gid: 1000, mode: 0o755 });
  assert.ok(x.mtime instanceof Date);
  await assert.rejects(vol.makeDir('/x'), refused(409));
  await assert.rejects(vol.makeDir('/x', { force: false }), refused(409));
  const again = await vol.makeDir('/x', { force: true });
  assert.equal(again.type, 'directory');
  assert.equal(again.path, '/x');
  const deep = await vol.makeDir('/p/q/r', { force: true });
  assert.equal(deep.name, 'r');
  assert.equal(deep.path, '/p/q/r');
  assert.equal(deep.type, 'directory');
  for (const p of ['/p', '/p/q']) assert.equal((await vol.getInfo(p)).type, 'directory', p);
  assert.equal((await vol.makeDir('/x/y')).path, '/x/y');

  await vol.writeFile('/file', 'x');
  await assert.rejects(vol.makeDir('/file'), refused(409));
  await assert.rejects(vol.makeDir('/file', { force: true }), VolumeError);
  await assert.rejects(vol.makeDir('/file/sub', { force: true }), VolumeError);
  assert.equal((await vol.getInfo('/file')).type, 'file');
  assert.equal(await vol.readFile('/file'), 'x');
  const paths = (await vol.list('/', { depth: 3 })).map((e) => e.path);
  assert.deepEqual(paths, ['/file', '/p', '/p/q', '/p/q/r', '/x', '/x/y']);
});

test('list: depth 1 by default, sorted by path, absolute paths; depth 2 adds grandchildren; a file is a 400', async () => {
  const vol = await fresh('list');
  assert.deepEqual(await vol.list('/'), []);
  await vol.writeFile('/b.txt', 'bb');
  await vol.makeDir('/c');
  await vol.writeFile('/a/x.txt', 'xxx');
  await vol.writeFile('/a/sub/deep.txt', 'deep');
  await vol.writeFile('/a/sub/deeper/deepest.txt', 'deepest');

  const top = await vol.list('/');
  assert.deepEqual(top.map((e) => [e.path, e.name, e.type]), [
    ['/a', 'a', 'directory'],
    ['/b.txt', 'b.txt', 'file'],
    ['/c', 'c', 'directory'],
  ]);
  assert.equal(top[1].size, 2);
  for (const e of top) {
    assert.ok(e.mtime instanceof Date && !Number.isNaN(e.mtime.getTime()), e.path);
    assert.equal(e.uid, 1000, e.path);
  }
  assert.deepEqual((await vol.list('/', { depth: 1 })).map((e) => e.path), ['/a', '/b.txt', '/c']);
  assert.deepEqual((await vol.list('/', { depth: 2 })).map((e) => e.path), ['/a', '/a/sub', '/a/x.txt', '/b.txt', '/c']);
  const sub = await vol.list('/a');
  assert.deepEqual(sub.map((e) => [e.path, e.name, e.type]), [
    ['/a/sub', 'sub', 'directory'],
    ['/a/x.txt', 'x.txt', 'file'],
  ]);
  assert.deepEqual((await vol.list('/a', { depth: 2 })).map((e) => e.path), [
    '/a/sub', '/a/sub/deep.txt', '/a/sub/deeper', '/a/x.txt',
  ]);
  const everything = (await vol.list('/', { depth: 4 })).map((e) => e.path);
  assert.deepEqual(everything, [
    '/a', '/a/sub', '/a/sub/deep.txt', '/a/sub/deeper', '/a/sub/deeper/deepest.txt', '/a/x.txt', '/b.txt', '/c',
  ]);
  assert.deepEqual((await vol.list('/c')), []);

  await assert.rejects(vol.list('/b.txt'), refused(400));
  await assert.rejects(vol.list('/nope'), VolumePathNotFoundError);
  await assert.rejects(vol.list('/a/nope'), VolumePathNotFoundError);
});

test('getInfo and exists; a symlink is a symlink with its target, and one inside the volume reads through', onHost(), async () => {
  const vol = await fresh('info');
  await vol.writeFile('/sub/file.txt', 'through the link');
  const file = await vol.getInfo('/sub/file.txt');
  assert.equal(file.name, 'file.txt');
  assert.equal(file.path, '/sub/file.txt');
  assert.equal(file.type, 'file');
  assert.equal(file.size, 16);
  assert.equal((await vol.getInfo('/sub')).type, 'directory');
  assert.equal((await vol.getInfo('/')).type, 'directory');
  for (const p of ['/sub/file.txt', '/sub', '/']) assert.equal(await vol.exists(p), true, p);
  for (const p of ['/nope', '/sub/nope', '/nope/deeper']) assert.equal(await vol.exists(p), false, p);
  await assert.rejects(vol.getInfo('/nope'), VolumePathNotFoundError);

  symlinkSync('sub/file.txt', onDisk(vol, 'inner'));
  symlinkSync('sub/none', onDisk(vol, 'dangling'));
  const link = await vol.getInfo('/inner');
  assert.equal(link.type, 'symlink');
  assert.equal(link.target, 'sub/file.txt');
  assert.equal(link.name, 'inner');
  assert.equal(link.path, '/inner');
  assert.equal(await vol.exists('/inner'), true);
  assert.equal(await vol.readFile('/inner'), 'through the link');
  assert.deepEqual(Buffer.from(await vol.readFile('/inner', { format: 'bytes' })), Buffer.from('through the link'));
  const listed = await vol.list('/');
  assert.deepEqual(listed.map((e) => [e.path, e.type, e.target ?? undefined]), [
    ['/dangling', 'symlink', 'sub/none'],
    ['/inner', 'symlink', 'sub/file.txt'],
    ['/sub', 'directory', undefined],
  ]);
  assert.equal((await vol.getInfo('/dangling')).type, 'symlink');
  await assert.rejects(vol.readFile('/dangling'), VolumeError);
});

test('updateMetadata: uid, gid and mode, as getInfo and the host see them; only what is given changes', onHost(), async () => {
  const vol = await fresh('meta');
  await vol.writeFile('/f.txt', 'x');
  const changed = await vol.updateMetadata('/f.txt', { uid: 1111, gid: 2222, mode: 0o600 });
  assert.equal(changed.type, 'file');
  assert.equal(changed.path, '/f.txt');
  assert.deepEqual(owner(changed), { uid: 1111, gid: 2222, mode: 0o600 });
  assert.deepEqual(owner(await vol.getInfo('/f.txt')), { uid: 1111, gid: 2222, mode: 0o600 });
  assert.deepEqual(owner(onDisk(vol, 'f.txt')), { uid: 1111, gid: 2222, mode: 0o600 });
  assert.deepEqual(owner(await vol.updateMetadata('/f.txt', { mode: 0o640 })), { uid: 1111, gid: 2222, mode: 0o640 });
  assert.deepEqual(owner(await vol.updateMetadata('/f.txt', { uid: 3333 })), { uid: 3333, gid: 2222, mode: 0o640 });
  assert.deepEqual(owner(onDisk(vol, 'f.txt')), { uid: 3333, gid: 2222, mode: 0o640 });
  assert.equal(await vol.readFile('/f.txt'), 'x');

  await vol.makeDir('/d');
  const dir = await vol.updateMetadata('/d', { uid: 4444, gid: 5555, mode: 0o711 });
  assert.equal(dir.type, 'directory');
  assert.deepEqual(owner(dir), { uid: 4444, gid: 5555, mode: 0o711 });
  assert.deepEqual(owner(onDisk(vol, 'd')), { uid: 4444, gid: 5555, mode: 0o711 });
  await assert.rejects(vol.updateMetadata('/nope', { mode: 0o600 }), VolumePathNotFoundError);
});

test("remove: a file, a directory and all in it; never the root (400); a missing path is VolumePathNotFoundError", onHost(), async () => {
  const vol = await fresh('remove');
  await vol.writeFile('/keep.txt', 'k');
  await vol.writeFile('/f.txt', 'f');
  await vol.writeFile('/tree/a/b/c.txt', 'c');
  await vol.writeFile('/tree/top.txt', 't');
  await vol.makeDir('/tree/empty');
  assert.equal(await vol.remove('/f.txt'), undefined);
  assert.equal(await vol.exists('/f.txt'), false);
  assert.ok(!lexists(onDisk(vol, 'f.txt')));
  await vol.remove('/tree');
  assert.equal(await vol.exists('/tree'), false);
  assert.ok(!lexists(onDisk(vol, 'tree')));

  await assert.rejects(vol.remove('/'), refused(400));
  for (const p of ['//', '/.', '/./', '']) await assert.rejects(vol.remove(p), VolumeError, JSON.stringify(p));
  await assert.rejects(vol.remove('/f.txt'), VolumePathNotFoundError);
  await assert.rejects(vol.remove('/tree/a'), VolumePathNotFoundError);
  assert.deepEqual((await vol.list('/')).map((e) => e.path), ['/keep.txt']);
  assert.equal(await vol.readFile('/keep.txt'), 'k');
  assert.deepEqual(owner(dirOf(vol.volumeId)), { uid: 1000, gid: 1000, mode: 0o755 });
});

// --- what a guest may leave in a volume ---

test('symlinks leading out are never followed: reads, writes, makeDir, remove, updateMetadata; listed and removed as links', onHost(), async () => {
  const vol = await fresh('escape');
  const root = dirOf(vol.volumeId);
  const above = resolve(root, '../../..'); // where "up" leads
  const mark = `cove-volume-test-${RUN}`;
  // A directory of the host's of its own, for the operations that would
  // hurt what they reached: tried there first, so that a volume that follows
  // links fails the test before anything of /etc is at stake.
  const outside = mkdtempSync(join(tmpdir(), 'cove-volume-outside-'));
  try {
    writeFileSync(join(outside, 'keep'), 'kept', { mode: 0o644 });
    const keep = owner(join(outside, 'keep'));
    symlinkSync('/etc', join(root, 'out'));
    symlinkSync('/etc/passwd', join(root, 'abs'));
    symlinkSync('../../..', join(root, 'up'));
    symlinkSync(outside, join(root, 'elsewhere'));
    symlinkSync(join(outside, 'keep'), join(root, 'keeplink'));

    // Shown as links, not followed.
    const links = [
      ['/abs', 'symlink', '/etc/passwd'],
      ['/elsewhere', 'symlink', outside],
      ['/keeplink', 'symlink', join(outside, 'keep')],
      ['/out', 'symlink', '/etc'],
      ['/up', 'symlink', '../../..'],
    ];
    assert.deepEqual((await vol.list('/')).map((e) => [e.path, e.type, e.target ?? undefined]), links);
    assert.deepEqual((await vol.list('/', { depth: 3 })).map((e) => e.path), links.map(([p]) => p));
    const out = await vol.getInfo('/out');
    assert.equal(out.type, 'symlink');
    assert.equal(out.target, '/etc');
    assert.equal(out.name, 'out');
    assert.equal((await vol.getInfo('/abs')).target, '/etc/passwd');
    assert.equal((await vol.getInfo('/up')).target, '../../..');

    // Through a link to a directory outside: refused.
    await assert.rejects(vol.readFile('/elsewhere/keep'), VolumeError);
    await assert.rejects(vol.writeFile('/elsewhere/keep', 'overwritten'), VolumeError);
    await assert.rejects(vol.writeFile('/elsewhere/new', 'x'), VolumeError);
    await assert.rejects(vol.updateMetadata('/elsewhere/keep', { uid: 4242, gid: 4242, mode: 0o777 }), VolumeError);
    await assert.rejects(vol.remove('/elsewhere/keep'), VolumeError);
    await assert.rejects(vol.makeDir('/elsewhere/d'), VolumeError);
    await assert.rejects(vol.makeDir('/elsewhere/d/e', { force: true }), VolumeError);
    await assert.rejects(vol.list('/elsewhere'), VolumeError);
    await assert.rejects(vol.getInfo('/elsewhere/keep'), VolumeError);
    // A link to a file outside, as the last component: not read; whatever
    // a write or a metadata change does, it is to the link, not the file.
    await assert.rejects(vol.readFile('/keeplink'), VolumeError);
    await assert.rejects(vol.readFile('/keeplink', { format: 'stream' }), VolumeError);
    await vol.updateMetadata('/keeplink', { uid: 4242, gid: 4242, mode: 0o777 }).catch(() => {});
    await vol.writeFile('/keeplink', 'overwritten').catch(() => {});
    assert.deepEqual(readdirSync(outside), ['keep']);
    assert.equal(readFileSync(join(outside, 'keep'), 'utf8'), 'kept');
    assert.deepEqual(owner(join(outside, 'keep')), keep);

    // Through /etc: refused, and /etc untouched.
    await assert.rejects(vol.readFile('/out/passwd'), VolumeError);
    await assert.rejects(vol.readFile('/out/passwd', { format: 'stream' }), VolumeError);
    await assert.rejects(vol.readFile('/abs'), VolumeError);
    await assert.rejects(vol.readFile('/abs', { format: 'bytes' }), VolumeError);
    await assert.rejects(vol.getInfo('/out/passwd'), VolumeError);
    await assert.rejects(vol.list('/out'), VolumeError);
    await assert.rejects(vol.writeFile(`/out/${mark}`, 'x'), VolumeError);
    await assert.rejects(vol.makeDir(`/out/${mark}-d`), VolumeError);
    await assert.rejects(vol.makeDir(`/out/${mark}-p/q`, { force: true }), VolumeError);
    await assert.rejects(vol.remove('/out/hostname'), VolumeError);
    for (const p of [`/etc/${mark}`, `/etc/${mark}-d`, `/etc/${mark}-p`]) assert.ok(!lexists(p), `${p} was made`);
    assert.ok(existsSync('/etc/hostname'), '/etc/hostname is gone');
    assert.ok(existsSync('/etc/passwd'), '/etc/passwd is gone');

    // Up and out of the state directory.
    await assert.rejects(vol.list('/up'), VolumeError);
    await assert.rejects(vol.writeFile(`/up/${mark}`, 'x'), VolumeError);
    await assert.rejects(vol.makeDir(`/up/${mark}`, { force: true }), VolumeError);
    assert.ok(!lexists(join(above, mark)), `${join(above, mark)} was made`);
    if (existsSync(join(stateDir, 'cove.db'))) {
      await assert.rejects(vol.readFile(`/up/${basename(stateDir)}/cove.db`, { format: 'bytes' }), VolumeError);
    }

    // Removing a link removes the link alone.
    await vol.remove('/out');
    assert.ok(!lexists(join(root, 'out')));
    assert.ok(statSync('/etc').isDirectory());
    assert.ok(existsSync('/etc/passwd'), '/etc/passwd is gone');
    assert.ok(existsSync('/etc/hostname'), '/etc/hostname is gone');
    await vol.remove('/elsewhere');
    assert.ok(!lexists(join(root, 'elsewhere')));
    assert.equal(readFileSync(join(outside, 'keep'), 'utf8'), 'kept');
    const left = (await vol.list('/')).map((e) => e.path);
    assert.ok(!left.includes('/out') && !left.includes('/elsewhere'), `${left}`);
    assert.ok(left.includes('/abs') && left.includes('/up'), `${left}`);
  } finally {
    for (const p of [`/etc/${mark}`, `/etc/${mark}-d`, `/etc/${mark}-p`, join(above, mark)]) {
      rmSync(p, { recursive: true, force: true });
    }
    rmSync(outside, { recursive: true, force: true });
  }
});

test("paths with '..' leading out of the volume are refused", onHost(), async () => {
  const vol = await fresh('dotdot');
  const root = dirOf(vol.volumeId);
  const volumes = dirname(root); // STATE_DIR/volumes
  const mark = `cove-volume-dotdot-${RUN}`;
  const sentinel = join(volumes, `${mark}-sentinel`);
  await vol.writeFile('/sub/f.txt', 'f');
  try {
    writeFileSync(sentinel, 'sentinel', { mode: 0o644 });
    for (const p of ['/../../etc/passwd', '../../../../../../etc/passwd', '/sub/../../../../../../etc/passwd']) {
      await assert.rejects(vol.readFile(p), VolumeError, p);
    }
    await assert.rejects(vol.readFile(`/../${mark}-sentinel`), VolumeError);
    await assert.rejects(vol.getInfo(`/../${mark}-sentinel`), VolumeError);
    await assert.rejects(vol.list('/..'), VolumeError);
    await assert.rejects(vol.list('/sub/../..'), VolumeError);
    await assert.rejects(vol.writeFile(`/../${mark}-w`, 'x'), VolumeError);
    await assert.rejects(vol.writeFile(`/sub/../../${mark}-w`, 'x'), VolumeError);
    await assert.rejects(vol.writeFile(`/../${mark}-sentinel`, 'overwritten'), VolumeError);
    await assert.rejects(vol.makeDir(`/../${mark}-d`), VolumeError);
    await assert.rejects(vol.makeDir(`/../${mark}-d/e`, { force: true }), VolumeError);
    await assert.rejects(vol.updateMetadata(`/../${mark}-sentinel`, { mode: 0o777 }), VolumeError);
    await assert.rejects(vol.remove(`/../${mark}-sentinel`), VolumeError);
    await assert.rejects(vol.remove(`/sub/../../${mark}-sentinel`), VolumeError);
    for (const p of [`${mark}-w`, `${mark}-d`]) assert.ok(!lexists(join(volumes, p)), `${p} was made`);
    assert.equal(readFileSync(sentinel, 'utf8'), 'sentinel');
    assert.equal(perm(statSync(sentinel).mode), 0o644);
    assert.equal(await vol.readFile('/sub/f.txt'), 'f');
    assert.deepEqual(readdirSync(root), ['sub']);
  } finally {
    for (const p of [`${mark}-sentinel`, `${mark}-w`, `${mark}-d`]) rmSync(join(volumes, p), { recursive: true, force: true });
  }
});

test('a FIFO and device nodes in the volume: readFile is refused at once (no hang), getInfo works', onHost(), async () => {
  const vol = await fresh('special');
  const root = dirOf(vol.volumeId);
  execFileSync('mkfifo', [join(root, 'fifo')]);
  execFileSync('mknod', [join(root, 'null'), 'c', '1', '3']);
  execFileSync('mknod', [join(root, 'zero'), 'c', '1', '5']);
  await vol.writeFile('/ok.txt', 'ok');
  for (const p of ['/fifo', '/null', '/zero']) {
    for (const format of ['text', 'stream']) {
      const started = Date.now();
      // A request that hung would end at 10 s in the SDK's TimeoutError (a
      // DOMException), not coved's refusal (a VolumeError).
      await assert.rejects(vol.readFile(p, { format, requestTimeoutMs: 10_000 }), VolumeError, `${p} as ${format}`);
      assert.ok(Date.now() - started < 10_000, `${p} took ${Date.now() - started} ms`);
    }
    const info = await vol.getInfo(p);
    assert.equal(info.type, 'unknown', p);
    assert.equal(info.name, p.slice(1));
    assert.equal(info.path, p);
  }
  assert.deepEqual((await vol.list('/')).map((e) => [e.path, e.type]), [
    ['/fifo', 'unknown'],
    ['/null', 'unknown'],
    ['/ok.txt', 'file'],
    ['/zero', 'unknown'],
  ]);
  // coved still serves, and the volume goes whole.
  assert.equal(await vol.readFile('/ok.txt'), 'ok');
  assert.equal(await Volume.destroy(vol.volumeId), true);
  made.delete(vol.volumeId);
  assert.ok(!lexists(root));
});

// --- coved restarted ---

test('after coved is SIGKILLed and restarted: volumes, their tokens and their content are kept', {
  skip: !process.env.COVE_RESTART_COVED && 'COVE_RESTART_COVED is unset (tests/integration/e2b_coved.sh sets it)',
}, async () => {
  const vol = await fresh('restart');
  await vol.writeFile('/dir/kept.txt', 'kept across a restart', { uid: 1234, gid: 4321, mode: 0o640 });
  await vol.makeDir('/empty');
  const data = randomBytes(1 << 20);
  await vol.writeFile('/one-mib.bin', new Uint8Array(data.buffer, data.byteOffset, data.length));
  const volumes = await Volume.list();

  const url = execFileSync('bash', ['-c', process.env.COVE_RESTART_COVED], { encoding: 'utf8' }).trim();
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  process.env.E2B_API_URL = url;
  process.env.E2B_SANDBOX_URL = url;
  process.env.E2B_VOLUME_API_URL = url;

  assert.deepEqual(await Volume.list(), volumes);
  assert.equal((await Volume.getInfo(vol.volumeId)).name, vol.name);
  // The token from before the restart still opens it.
  assert.equal(await vol.readFile('/dir/kept.txt'), 'kept across a restart');
  const again = await Volume.connect(vol.volumeId);
  assert.equal(sha256(await again.readFile('/one-mib.bin', { format: 'bytes' })), sha256(data));
  assert.deepEqual(owner(await again.getInfo('/dir/kept.txt')), { uid: 1234, gid: 4321, mode: 0o640 });
  assert.deepEqual((await again.list('/', { depth: 2 })).map((e) => e.path), [
    '/dir', '/dir/kept.txt', '/empty', '/one-mib.bin',
  ]);
  await again.writeFile('/after.txt', 'after');
  assert.equal(await vol.readFile('/after.txt'), 'after');
  await assert.rejects(Volume.create(vol.name), refused(409));
  await assert.rejects(new Volume(vol.volumeId, vol.name, 'wrong').readFile('/after.txt'), AuthenticationError);
});
