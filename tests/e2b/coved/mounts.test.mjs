// Volumes mounted into sandboxes (E2B's volumeMounts), through the official
// E2B JS SDK against a real coved with real guests (tests/integration/
// e2b_coved.sh starts it). Each volume is served over NFSv3 by coved's
// volume server, to the sandboxes that mount it alone. Checked: files go
// both ways between two sandboxes and the content API, with their owners
// and modes; getInfo lists the mounts; a mounted volume cannot be
// destroyed; the mount stays across a pause to disk and its resume, and in
// fork children; a guest cannot mount a volume it was not given, nor reach
// the server on another port; a device node a guest makes is no device on
// the host; a snapshot keeps them; the server, killed, comes back and
// guests carry on; and after coved is SIGKILLed and restarted the guests'
// mounts still work.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const { Volume, Sandbox, SandboxError } = createRequire(`${process.env.COVE_NODE_DIR}/`)('e2b');
if (process.env.E2B_API_URL) process.env.E2B_VOLUME_API_URL = process.env.E2B_API_URL;
const RUN = randomBytes(3).toString('hex');
const made = [];
const sandboxes = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

after(async () => {
  for (const id of sandboxes) await Sandbox.kill(id).catch(() => {});
  for (const id of made) await Volume.destroy(id).catch(() => {});
});

async function volume(label) {
  const vol = await Volume.create(`cove-mount-${label}-${RUN}`);
  made.push(vol.volumeId);
  return vol;
}

async function create(mounts, opts = {}) {
  const sbx = await Sandbox.create('base', { volumeMounts: mounts, timeoutMs: 600_000, requestTimeoutMs: 180_000, ...opts });
  sandboxes.push(sbx.sandboxId);
  return sbx;
}

const run = async (sbx, cmd, user = 'user') => (await sbx.commands.run(cmd, { user, timeoutMs: 120_000 })).stdout;

const vols = {};
let a;
let b;

test('two sandboxes mount one volume: files written in either, and through the content API, reach the others', async () => {
  vols.shared = await volume('shared');
  vols.own = await volume('own');
  a = await create({ '/mnt/shared': vols.shared, '/mnt/own': vols.own.name });
  b = await create({ '/mnt/shared': vols.shared.name });
  // The mount is NFS from the server at the TAP's address.
  const mounts = await run(a, 'grep " /mnt/shared " /proc/mounts');
  assert.match(mounts, /^169\.254\.0\.22:\/vol_[0-9a-f]{24} \/mnt\/shared nfs /);
  await run(a, 'echo from-a > /mnt/shared/a.txt');
  assert.equal(await run(b, 'cat /mnt/shared/a.txt'), 'from-a\n');
  await run(b, 'mkdir -p /mnt/shared/dir && echo from-b > /mnt/shared/dir/b.txt');
  assert.equal(await run(a, 'cat /mnt/shared/dir/b.txt'), 'from-b\n');
  assert.equal(await vols.shared.readFile('/dir/b.txt'), 'from-b\n');
  await vols.shared.writeFile('/from-api.txt', 'from the content API');
  assert.equal(await run(a, 'cat /mnt/shared/from-api.txt'), 'from the content API');
  assert.equal(await run(b, 'cat /mnt/shared/from-api.txt'), 'from the content API');
  // The other volume is a's alone.
  await run(a, 'echo mine > /mnt/own/mine.txt');
  assert.equal(await vols.own.readFile('/mine.txt'), 'mine\n');
  assert.equal(await run(b, 'test -e /mnt/own/mine.txt && echo there || echo absent'), 'absent\n');
});

test('owners and modes: as the guest made them, as the content API sees them', async () => {
  await run(a, 'echo x > /mnt/shared/user.txt && chmod 600 /mnt/shared/user.txt');
  await run(a, 'echo y > /mnt/shared/root.txt && chown 1234:4321 /mnt/shared/root.txt', 'root');
  const u = await vols.shared.getInfo('/user.txt');
  assert.deepEqual([u.uid, u.gid, u.mode & 0o7777], [1000, 1000, 0o600]);
  const r = await vols.shared.getInfo('/root.txt');
  assert.deepEqual([r.uid, r.gid], [1234, 4321]);
  // A file the user cannot read stays unreadable to another user in b.
  await run(a, 'echo secret > /mnt/shared/private.txt && chmod 600 /mnt/shared/private.txt', 'root');
  const denied = await b.commands.run('cat /mnt/shared/private.txt', { user: 'user' }).catch((e) => e);
  assert.ok(denied instanceof Error, 'user read a root-only file');
  assert.equal(await run(b, 'cat /mnt/shared/private.txt', 'root'), 'secret\n');
  // Content API files show in the guest with the owner asked for.
  await vols.shared.writeFile('/api-owned.txt', 'z', { uid: 1000, gid: 1000, mode: 0o640 });
  assert.equal(await run(a, 'stat -c "%u %g %a" /mnt/shared/api-owned.txt'), '1000 1000 640\n');
});

test('each mount reads ahead 15 MiB, not the 128 KiB Linux gives an NFS mount by default', async () => {
  const ra = await run(a, 'for m in /mnt/own /mnt/shared; do cat /sys/class/bdi/$(mountpoint -d $m)/read_ahead_kb; done');
  assert.equal(ra, '15360\n15360\n');
});

test('getInfo lists the mounts; a mounted volume cannot be destroyed (409)', async () => {
  const info = await Sandbox.getInfo(a.sandboxId);
  const mounts = [...info.volumeMounts].sort((x, y) => x.path.localeCompare(y.path));
  assert.deepEqual(mounts, [
    { name: vols.own.name, path: '/mnt/own' },
    { name: vols.shared.name, path: '/mnt/shared' },
  ]);
  await assert.rejects(Volume.destroy(vols.own.volumeId), (e) => {
    assert.match(`${e.message}`, /409|mounted/);
    return true;
  });
});

test('a create naming no volume is 400 and makes no sandbox; a bad mount path is 400', async () => {
  await assert.rejects(create({ '/mnt/x': `no-such-volume-${RUN}` }), (e) => {
    assert.ok(e instanceof SandboxError, `${e}`);
    assert.match(e.message, /volumeMounts\[0\]: no volume is named/);
    return true;
  });
  await assert.rejects(create({ 'relative/path': vols.own.name }), /400|absolute/);
});

// mount(2) from the guest, as root, with the options the agent uses: the
// errno ("0" when it mounted).
const mountCall = (exp, at) => `mkdir -p ${at} && python3 -c '
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
opts = b"vers=3,proto=tcp,nolock,addr=169.254.0.22,port=2049,mountport=20048,mountproto=tcp,soft,timeo=20,retrans=1"
r = libc.mount(b"169.254.0.22:${exp}", b"${at}", b"nfs", 0, opts)
print(0 if r == 0 else ctypes.get_errno())
'`;

test('a guest cannot mount a volume it was not given, nor reach the server elsewhere', async () => {
  // The same call mounts b's own volume a second time (so the call works)...
  const own = `/vol_${vols.shared.volumeId.slice(4)}`;
  assert.equal(await run(b, mountCall(own, '/mnt/again'), 'root'), '0\n');
  assert.equal(await run(b, 'cat /mnt/again/a.txt && umount /mnt/again', 'root'), 'from-a\n');
  // ...and a's volume, not b's, is refused: the server does not know b's
  // address for it (EACCES).
  const other = `/vol_${vols.own.volumeId.slice(4)}`;
  assert.equal(await run(b, mountCall(other, '/mnt/steal'), 'root'), '13\n');
  // Only NFS and MOUNT are let through to the server's namespace.
  const dial = (port) => `timeout 5 bash -c "exec 3<>/dev/tcp/169.254.0.22/${port}" 2>/dev/null && echo open || echo closed`;
  assert.equal(await run(b, dial(2049), 'root'), 'open\n');
  assert.equal(await run(b, dial(111), 'root'), 'closed\n');
  // A sandbox without volumes cannot reach it at all.
  const plain = await Sandbox.create('base', { timeoutMs: 300_000 });
  sandboxes.push(plain.sandboxId);
  assert.equal(await run(plain, dial(2049), 'root'), 'closed\n');
  assert.equal(await run(plain, mountCall(own, '/mnt/steal'), 'root') !== '0\n', true);
  await plain.kill();
});

test('a device node a guest makes in a volume is no device on the host', async () => {
  await run(a, 'mknod /mnt/shared/disk b 254 0 && mknod /mnt/shared/mem c 1 1 && ls -l /mnt/shared/disk', 'root');
  // The content API never reads it; the host's mount of the volume is nodev.
  await assert.rejects(vols.shared.readFile('/mem'), /400|regular/);
  const stateDir = process.env.COVE_STATE_DIR;
  if (stateDir && process.getuid() === 0) {
    const path = join(stateDir, 'volumes', vols.shared.volumeId, 'mem');
    assert.ok(statSync(path).isCharacterDevice());
    assert.throws(() => readFileSync(path), /EACCES|EPERM/);
  }
});

test('a pause to disk and a resume keep the mount; a fork child has it too', async () => {
  await run(a, 'echo before-pause > /mnt/shared/pause.txt');
  assert.equal(await a.pause(), true);
  await vols.shared.writeFile('/while-paused.txt', 'written while a was paused');
  const resumed = await Sandbox.connect(a.sandboxId, { timeoutMs: 600_000 });
  const t0 = Date.now();
  assert.equal(await run(resumed, 'cat /mnt/shared/pause.txt'), 'before-pause\n');
  const firstMs = Date.now() - t0;
  console.log(`first read of the volume after the resume: ${firstMs} ms`);
  assert.ok(firstMs < 30_000, `first read after the resume took ${firstMs} ms`);
  assert.equal(await run(resumed, 'cat /mnt/shared/while-paused.txt'), 'written while a was paused');
  await run(resumed, 'echo after-resume > /mnt/shared/resume.txt');
  assert.equal(await vols.shared.readFile('/resume.txt'), 'after-resume\n');
  a = resumed;
  const [child] = await a.fork({ timeoutMs: 300_000 });
  sandboxes.push(child.sandboxId);
  const t1 = Date.now();
  assert.equal(await run(child, 'cat /mnt/shared/resume.txt'), 'after-resume\n');
  console.log(`first read of the volume in a fork child: ${Date.now() - t1} ms`);
  await run(child, 'echo from-child > /mnt/shared/child.txt');
  assert.equal(await run(b, 'cat /mnt/shared/child.txt'), 'from-child\n');
  assert.equal(await run(a, 'cat /mnt/shared/child.txt'), 'from-child\n');
  const info = await Sandbox.getInfo(child.sandboxId);
  assert.equal(info.volumeMounts.length, 2);
  await child.kill();
});

test('a snapshot keeps the volumes: a sandbox made from it mounts them, and no others', async () => {
  const snap = await b.createSnapshot();
  const made = await Sandbox.create(snap.snapshotId, { timeoutMs: 300_000 });
  sandboxes.push(made.sandboxId);
  assert.equal(await run(made, 'cat /mnt/shared/a.txt'), 'from-a\n');
  await run(made, 'echo from-snapshot > /mnt/shared/snap.txt');
  assert.equal(await vols.shared.readFile('/snap.txt'), 'from-snapshot\n');
  assert.deepEqual((await Sandbox.getInfo(made.sandboxId)).volumeMounts, [{ name: vols.shared.name, path: '/mnt/shared' }]);
  await assert.rejects(Sandbox.create(snap.snapshotId, { volumeMounts: { '/mnt/own': vols.own.name } }), /no others/);
  await made.kill();
  await Sandbox.deleteSnapshot(snap.snapshotId).catch(() => {});
});

function serverPids() {
  const runDir = process.env.COVE_RUN_DIR;
  const text = readFileSync(join(runDir, 'volume-server', 'pids'), 'utf8');
  return Object.fromEntries(text.trim().split('\n').map((l) => l.split(' ')).map(([n, p]) => [n, Number(p)]));
}

test('the server killed comes back by itself, and the guests carry on', {
  skip: !process.env.COVE_RUN_DIR && 'COVE_RUN_DIR is unset (tests/integration/e2b_coved.sh sets it)',
}, async () => {
  const { ganesha } = serverPids();
  process.kill(ganesha, 'SIGKILL');
  let back = 0;
  for (let i = 0; i < 100 && !back; i++) {
    await sleep(200);
    try {
      const now = serverPids().ganesha;
      if (now !== ganesha) back = now;
    } catch {}
  }
  assert.ok(back, 'no new Ganesha within 20 s');
  await run(b, 'echo after-server-restart > /mnt/shared/restart.txt');
  assert.equal(await run(a, 'cat /mnt/shared/restart.txt'), 'after-server-restart\n');
});

test('after coved is SIGKILLed and restarted, the mounts still work', {
  skip: !process.env.COVE_RESTART_COVED && 'COVE_RESTART_COVED is unset (tests/integration/e2b_coved.sh sets it)',
}, async () => {
  const url = execFileSync('bash', ['-c', process.env.COVE_RESTART_COVED], { encoding: 'utf8' }).trim();
  process.env.E2B_API_URL = url;
  process.env.E2B_SANDBOX_URL = url;
  process.env.E2B_VOLUME_API_URL = url;
  const again = await Sandbox.connect(b.sandboxId);
  await run(again, 'echo after-coved-restart > /mnt/shared/coved.txt');
  const vol = await Volume.connect(vols.shared.volumeId);
  assert.equal(await vol.readFile('/coved.txt'), 'after-coved-restart\n');
  assert.equal((await Sandbox.getInfo(b.sandboxId)).volumeMounts.length, 1);
  // Killed, its volumes can go.
  for (const s of [a, again]) await Sandbox.kill(s.sandboxId);
  assert.equal(await Volume.destroy(vols.own.volumeId), true);
  assert.equal(await Volume.destroy(vols.shared.volumeId), true);
});
