// The official E2B JS SDK (npm e2b, pinned in package.json) against cove-agent
// run on the host, bound to loopback. The SDK's debug mode (E2B_DEBUG with
// E2B_SANDBOX_URL) skips the control plane and talks to one envd directly:
// exactly the agent's API. Run by tests/integration/e2b.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const build = process.env.COVE_BUILD;
const require = createRequire(`${build}/node/`);
const { Sandbox, CommandExitError } = require('e2b');

let agent;
let sbx;

before(async () => {
  agent = spawn(`${build}/bin/cove-agent`, ['--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    agent.once('exit', (code) => reject(new Error(`cove-agent exited with ${code}`)));
    agent.stdout.on('data', (d) => {
      const m = /listening on port (\d+)/.exec(String(d));
      if (m) resolve(m[1]);
    });
  });
  process.env.E2B_DEBUG = 'true';
  process.env.E2B_SANDBOX_URL = `http://127.0.0.1:${port}`;
  process.env.E2B_API_KEY = 'cove-test';
  sbx = await Sandbox.create();
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
