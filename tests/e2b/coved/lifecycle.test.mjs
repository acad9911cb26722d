// The lifecycle through the official E2B JS SDK against a real coved
// (tests/integration/e2b_coved.sh starts it): the scenarios of E2B's own
// tests/sandbox/lifecycleBehavior.test.ts and the filesystem-only pause of
// tests/sandbox/snapshot.test.ts, written afresh for coved. E2B fetches
// https://PORT-ID.DOMAIN; here the same request goes to coved by host name.
// The processes that must outlive an auto-pause are started detached, not
// as the SDK's background commands: when a pause ends such a command's
// stream, the SDK checks envd's /health with the sandbox's token, which
// (rightly) resumes it at once, and the test could not see it paused.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { getByHost } from './host.mjs';

const { Sandbox } = createRequire(`${process.env.COVE_NODE_DIR}/`)('e2b');
const template = 'base';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const made = [];

after(async () => {
  for (const id of made) await Sandbox.kill(id).catch(() => {});
});

async function create(opts) {
  const sbx = await Sandbox.create(template, opts);
  made.push(sbx.sandboxId);
  return sbx;
}

async function bootId(sbx) {
  return (await sbx.commands.run('cat /proc/sys/kernel/random/boot_id')).stdout.trim();
}

// The state the control plane reports, once it is `want` (a pause at the
// deadline takes a moment to begin), or whatever it is after ~10 s.
async function stateBecomes(sbx, want) {
  let state;
  for (let i = 0; i < 100; i++) {
    state = (await sbx.getInfo()).state;
    if (state === want) break;
    await sleep(100);
  }
  return state;
}

test('auto-pause without auto-resume: paused at its deadline, connect wakes it', async () => {
  const sbx = await create({ timeoutMs: 3_000, lifecycle: { onTimeout: 'pause', autoResume: false } });
  await sleep(4_000);
  assert.equal(await stateBecomes(sbx, 'paused'), 'paused');
  assert.equal(await sbx.isRunning(), false);
  assert.equal((await sbx.getInfo()).state, 'paused', 'a request does not wake it');
  await sbx.connect();
  assert.equal((await sbx.getInfo()).state, 'running');
  assert.equal(await sbx.isRunning(), true);
});

test('filesystem-only auto-pause reboots on connect, the file written before it kept', async () => {
  const sbx = await create({ timeoutMs: 3_000, lifecycle: { onTimeout: { action: 'pause', keepMemory: false } } });
  const marker = 'auto-pause-fs-only';
  await sbx.files.write('/home/user/auto-pause-marker.txt', marker);
  const before = await bootId(sbx);
  await sleep(4_000);
  assert.equal(await stateBecomes(sbx, 'paused'), 'paused');
  await sbx.connect();
  assert.equal((await sbx.files.read('/home/user/auto-pause-marker.txt')).trim(), marker);
  assert.notEqual(await bootId(sbx), before);
});

test('auto-resume: a request to a server in the paused sandbox wakes it', async () => {
  const sbx = await create({ timeoutMs: 60_000, lifecycle: { onTimeout: 'pause', autoResume: true } });
  await sbx.files.write('/tmp/w/index.html', 'awake\n');
  await sbx.commands.run('nohup python3 -m http.server 8000 --directory /tmp/w >/dev/null 2>&1 &');
  for (let i = 0; i < 100 && (await getByHost(sbx.sandboxId, 8000, '/index.html')).status !== 200; i++) await sleep(100);
  // Paused at its deadline once the server listens.
  await sbx.setTimeout(1_000);
  await sleep(1_500);
  assert.equal(await stateBecomes(sbx, 'paused'), 'paused');
  const page = await getByHost(sbx.sandboxId, 8000, '/index.html');
  assert.equal(page.status, 200);
  assert.equal(page.body, 'awake\n');
  assert.equal((await sbx.getInfo()).state, 'running');
  assert.equal(await sbx.isRunning(), true);
});

test('auto-resume: an SDK call to a paused sandbox wakes it, with its processes', async () => {
  const sbx = await create({ timeoutMs: 3_000, lifecycle: { onTimeout: 'pause', autoResume: true } });
  const pid = (await sbx.commands.run('nohup sleep 3600 >/dev/null 2>&1 & echo $!')).stdout.trim();
  await sleep(4_000);
  assert.equal(await stateBecomes(sbx, 'paused'), 'paused');
  const r = await sbx.commands.run('echo woken');
  assert.equal(r.stdout, 'woken\n');
  assert.equal((await sbx.commands.run(`kill -0 ${pid} && echo alive`)).stdout, 'alive\n');
  const info = await sbx.getInfo();
  assert.equal(info.state, 'running');
  assert.ok(info.endAt.getTime() - Date.now() > 50_000, `woken for a minute at least: ${info.endAt.toISOString()}`);
});

test('pause({keepMemory: false}) reboots on resume but keeps the filesystem and the token', async () => {
  const sbx = await create();
  const filename = '/home/user/fs_only_snapshot.txt';
  const content = 'This is a filesystem-only snapshot test file.';
  await sbx.files.write(filename, content);
  const before = await bootId(sbx);
  assert.equal(await sbx.pause({ keepMemory: false }), true);
  assert.equal(await sbx.isRunning(), false);
  const resumed = await sbx.connect();
  assert.equal(resumed.sandboxId, sbx.sandboxId);
  assert.equal(await resumed.isRunning(), true);
  assert.equal(await resumed.files.exists(filename), true);
  assert.equal(await resumed.files.read(filename), content);
  assert.notEqual(await bootId(resumed), before);
  // The handle made before the pause still works: the same access token.
  assert.equal((await sbx.commands.run('whoami')).stdout, 'user\n');
});

test("connect({onResume: 'reboot'}) boots a sandbox paused with its memory from its disk", async () => {
  const sbx = await create();
  await sbx.files.write('/home/user/kept.txt', 'kept');
  // A boot from the disk recovers as from a crash: only what the guest had
  // written out is there.
  await sbx.commands.run('sync');
  const before = await bootId(sbx);
  assert.equal(await sbx.pause(), true);
  const again = await Sandbox.connect(sbx.sandboxId, { onResume: 'reboot' });
  assert.notEqual(await bootId(again), before);
  assert.equal(await again.files.read('/home/user/kept.txt'), 'kept');
});
