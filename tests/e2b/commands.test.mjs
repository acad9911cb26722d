// The official E2B JS SDK (npm e2b, pinned in package.json) against cove-agent
// run on the host, bound to loopback. The SDK's debug mode (E2B_DEBUG with
// E2B_SANDBOX_URL) skips the control plane and talks to one envd directly:
// exactly the agent's API. Run by tests/integration/e2b.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sdk, startAgent } from './agent.mjs';

const { CommandExitError } = sdk;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let agent;
let sbx;

before(async () => {
  ({ agent, sbx } = await startAgent());
});

after(() => agent?.kill());

test('commands.run returns stdout, stderr and exit code', async () => {
  const r = await sbx.commands.run('echo out; echo err >&2');
  assert.equal(r.exitCode, 0);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
});

test('a non-zero exit raises CommandExitError with the code and output', async () => {
  await assert.rejects(sbx.commands.run('echo partial; exit 3'), (e) => {
    assert.ok(e instanceof CommandExitError);
    assert.equal(e.exitCode, 3);
    assert.equal(e.stdout, 'partial\n');
    return true;
  });
});

test('envs and cwd reach the command', async () => {
  const r = await sbx.commands.run('echo "$GREETING"; pwd', { envs: { GREETING: 'hello there' }, cwd: '/tmp' });
  assert.equal(r.stdout, 'hello there\n/tmp\n');
});

test('output streams as it is produced, not at exit', async () => {
  const seen = [];
  const t0 = Date.now();
  await sbx.commands.run('for i in 1 2 3; do echo $i; sleep 0.3; done', {
    onStdout: (data) => seen.push([Date.now() - t0, data]),
  });
  assert.equal(seen.map(([, d]) => d).join(''), '1\n2\n3\n');
  // The first line arrived well before the command's ~0.9 s were over.
  assert.ok(seen[0][0] < 600, `first chunk after ${seen[0][0]} ms`);
});

test('stdout and stderr callbacks stay separate', async () => {
  const out = [];
  const err = [];
  await sbx.commands.run('echo a; echo b >&2; echo c', { onStdout: (d) => out.push(d), onStderr: (d) => err.push(d) });
  assert.equal(out.join(''), 'a\nc\n');
  assert.equal(err.join(''), 'b\n');
});

test('large output arrives whole', async () => {
  const r = await sbx.commands.run('head -c 3000000 /dev/zero | tr "\\0" x');
  assert.equal(r.stdout.length, 3000000);
  assert.ok(/^x+$/.test(r.stdout));
});

test('a background command is listed, killed, and gone from the list', async () => {
  const h = await sbx.commands.run('sleep 30', { background: true });
  assert.ok(h.pid > 0);
  const listed = await sbx.commands.list();
  const mine = listed.find((p) => p.pid === h.pid);
  assert.ok(mine, `pid ${h.pid} not in ${JSON.stringify(listed)}`);
  assert.equal(mine.cmd, '/bin/bash');
  assert.deepEqual(mine.args.slice(-1), ['sleep 30']);
  assert.equal(await sbx.commands.kill(h.pid), true);
  await assert.rejects(h.wait(), (e) => e instanceof CommandExitError && e.exitCode === -1);
  for (let i = 0; i < 50 && (await sbx.commands.list()).some((p) => p.pid === h.pid); i++) await sleep(20);
  assert.ok(!(await sbx.commands.list()).some((p) => p.pid === h.pid));
});

test('killing an unknown pid returns false', async () => {
  assert.equal(await sbx.commands.kill(999999), false);
});

test('a disconnected command keeps running and connect picks it up again', async () => {
  const h = await sbx.commands.run('for i in 1 2 3 4 5 6; do echo $i; sleep 0.15; done; echo done', { background: true });
  await h.disconnect();
  await sleep(300);
  const again = await sbx.commands.connect(h.pid);
  const r = await again.wait();
  assert.equal(r.exitCode, 0);
  assert.match(r.stdout, /6\ndone\n$/); // output from after the reconnect, up to the end
});

test('connect to an unknown pid fails with not found', async () => {
  await assert.rejects(sbx.commands.connect(999999), /not found/i);
});

test('stdin: send data, close it, the command sees EOF', async () => {
  const h = await sbx.commands.run('cat; echo eof', { background: true, stdin: true });
  await sbx.commands.sendStdin(h.pid, 'hello\n');
  await sbx.commands.sendStdin(h.pid, 'world\n');
  await sbx.commands.closeStdin(h.pid);
  const r = await h.wait();
  assert.equal(r.stdout, 'hello\nworld\neof\n');
});

test('timeoutMs is the command deadline: the process is killed', async () => {
  const t0 = Date.now();
  await assert.rejects(sbx.commands.run('sleep 20', { timeoutMs: 700 }));
  assert.ok(Date.now() - t0 < 5000);
  await sleep(300);
  const left = (await sbx.commands.list()).filter((p) => p.args.includes('sleep 20'));
  assert.deepEqual(left, []);
});

test('pty: a terminal of the requested size, input, resize', async () => {
  const chunks = [];
  const dec = new TextDecoder();
  const h = await sbx.pty.create({ cols: 80, rows: 24, onData: (d) => chunks.push(dec.decode(d)) });
  const enc = new TextEncoder();
  await sbx.pty.sendInput(h.pid, enc.encode('stty size\n'));
  for (let i = 0; i < 100 && !chunks.join('').includes('24 80'); i++) await sleep(20);
  assert.ok(chunks.join('').includes('24 80'), chunks.join(''));
  await sbx.pty.resize(h.pid, { cols: 100, rows: 30 });
  await sbx.pty.sendInput(h.pid, enc.encode('stty size; exit 0\n'));
  const r = await h.wait();
  assert.ok(chunks.join('').includes('30 100'), chunks.join(''));
  assert.equal(r.exitCode, 0);
});

test('user: a command runs as the named user, with its identity and environment', async () => {
  const r = await sbx.commands.run('id -un; id -u; echo "$USER $HOME"', { user: 'nobody', cwd: '/tmp' });
  const [name, uid, env] = r.stdout.trim().split('\n');
  assert.equal(name, 'nobody');
  assert.notEqual(uid, '0');
  assert.match(env, /^nobody /);
});

test('user: an unknown user is refused', async () => {
  await assert.rejects(sbx.commands.run('true', { user: 'no-such-user-here' }), /does not exist/);
});
