// A kernel's state through the sandbox's lifecycle: paused and resumed, and
// forked (each child carries on from its parent's kernel, on its own).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const { Sandbox } = createRequire(`${process.env.COVE_NODE_DIR}/`)('@e2b/code-interpreter');
const made = [];

after(async () => {
  for (const id of made) await Sandbox.kill(id).catch(() => {});
});

test('a paused and resumed sandbox keeps its kernel and its variables', async () => {
  const sbx = await Sandbox.create({ timeoutMs: 300_000 });
  made.push(sbx.sandboxId);
  await sbx.runCode('import numpy as np\nheld = np.arange(5) * 3');
  const ctx = await sbx.createCodeContext({ cwd: '/tmp' });
  await sbx.runCode('mine = "context state"', { context: ctx });
  await sbx.pause();
  assert.equal((await sbx.getInfo()).state, 'paused');
  const back = await Sandbox.connect(sbx.sandboxId);
  assert.equal((await back.runCode('held.tolist()')).text, '[0, 3, 6, 9, 12]');
  assert.equal((await back.runCode('mine', { context: ctx })).text, "'context state'");
  assert.ok((await back.listCodeContexts()).some((c) => c.id === ctx.id));
});

test('a fork carries on from its parent\'s kernel, and each goes its own way', async () => {
  const sbx = await Sandbox.create({ timeoutMs: 300_000 });
  made.push(sbx.sandboxId);
  await sbx.runCode('counter = 10');
  const [kid] = await sbx.fork({ timeoutMs: 120_000 });
  made.push(kid.sandboxId);
  const child = await Sandbox.connect(kid.sandboxId);
  assert.equal((await child.runCode('counter += 1; counter')).text, '11');
  assert.equal((await sbx.runCode('counter += 5; counter')).text, '15');
  assert.equal((await child.runCode('counter')).text, '11');
});
