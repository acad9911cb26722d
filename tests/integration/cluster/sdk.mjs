// The official E2B SDK through one gateway (E2B_API_URL, E2B_SANDBOX_URL:
// gateway CL_GATEWAY's coved) driving a sandbox the cluster placed on
// another host: commands, files, a PTY, pause and resume, fork. Run by
// tests/integration/cluster.sh with node's test runner (TAP).
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { ownerOf } from './catalog.mjs';

const { Sandbox } = createRequire(`${process.env.COVE_NODE_DIR}/`)('e2b');
const gateway = process.env.CL_GATEWAY; // "h1"
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const made = [];
let sbx;
let host;

after(async () => {
  for (const id of made) await Sandbox.kill(id).catch(() => {});
});

before(async () => {
  // Creates through this gateway until one lands elsewhere (the placement
  // seed is fixed; those that stay here are killed).
  for (let i = 0; i < 6 && !sbx; i++) {
    const s = await Sandbox.create('tiny', { timeoutMs: 300_000 });
    made.push(s.sandboxId);
    const h = await ownerOf(s.sandboxId);
    if (h && h !== gateway) {
      sbx = s;
      host = h;
    } else {
      await s.kill();
    }
  }
});

test('a create through the gateway lands on another host, named in its catalog record', () => {
  assert.ok(sbx, `six creates through ${gateway} all stayed on it`);
  assert.notEqual(host, gateway);
});

test('commands: output, exit code, environment, through the gateway', async () => {
  const r = await sbx.commands.run('echo "out $FOO"; echo err >&2; exit 3', { envs: { FOO: 'bar' } }).catch((e) => e.result ?? e);
  assert.equal(r.stdout, 'out bar\n');
  assert.equal(r.stderr, 'err\n');
  assert.equal(r.exitCode, 3);
});

test('files: write, read, list, through the gateway', async () => {
  await sbx.files.write('/tmp/cluster/hello.txt', 'from the gateway');
  assert.equal(await sbx.files.read('/tmp/cluster/hello.txt'), 'from the gateway');
  const names = (await sbx.files.list('/tmp/cluster')).map((e) => e.name);
  assert.deepEqual(names, ['hello.txt']);
});

test('pty: a terminal of the asked size, input and resize', async () => {
  const chunks = [];
  const dec = new TextDecoder();
  const enc = new TextEncoder();
  const h = await sbx.pty.create({ cols: 80, rows: 24, onData: (d) => chunks.push(dec.decode(d)) });
  await sbx.pty.sendInput(h.pid, enc.encode('stty size\n'));
  for (let i = 0; i < 100 && !chunks.join('').includes('24 80'); i++) await sleep(20);
  assert.ok(chunks.join('').includes('24 80'), chunks.join(''));
  await sbx.pty.resize(h.pid, { cols: 100, rows: 30 });
  await sbx.pty.sendInput(h.pid, enc.encode('stty size; exit 0\n'));
  const r = await h.wait();
  assert.ok(chunks.join('').includes('30 100'), chunks.join(''));
  assert.equal(r.exitCode, 0);
});

test('pause and resume stay on the owning host, the guest as it was', async () => {
  await sbx.commands.run('echo kept >/tmp/paused-marker');
  assert.equal(await sbx.pause(), true);
  assert.equal((await sbx.getInfo()).state, 'paused');
  assert.equal(await ownerOf(sbx.sandboxId), host);
  const again = await Sandbox.connect(sbx.sandboxId);
  assert.equal((await again.getInfo()).state, 'running');
  assert.equal((await again.commands.run('cat /tmp/paused-marker')).stdout, 'kept\n');
  assert.equal(await ownerOf(sbx.sandboxId), host);
});

test('fork: the child runs on its parent host and carries on from it', async () => {
  await sbx.files.write('/tmp/who', 'parent');
  const kids = await sbx.fork();
  assert.equal(kids.length, 1);
  const [kid] = kids;
  made.push(kid.sandboxId);
  assert.notEqual(kid.sandboxId, sbx.sandboxId);
  assert.equal(await ownerOf(kid.sandboxId), host);
  assert.equal(await kid.files.read('/tmp/who'), 'parent');
  await kid.files.write('/tmp/who', 'child');
  assert.equal(await sbx.files.read('/tmp/who'), 'parent');
});

test('list through the gateway holds it; kill removes it everywhere', async () => {
  const ids = (await Sandbox.list().nextItems()).map((s) => s.sandboxId);
  assert.ok(ids.includes(sbx.sandboxId), ids.join(' '));
  await sbx.kill();
  assert.equal(await ownerOf(sbx.sandboxId), null);
  assert.equal(await sbx.isRunning(), false);
});
