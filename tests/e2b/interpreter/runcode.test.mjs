// @e2b/code-interpreter 2.8.0, unmodified, against a real coved and real
// guests of the code-interpreter-v1 template (tests/integration/interpreter.sh
// starts coved): runCode's state, streams, results of every kind, errors,
// contexts, env vars, time limits and a client that leaves, and what a
// hostile or broken run does to the server (nothing lasting).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const { Sandbox } = createRequire(`${process.env.COVE_NODE_DIR}/`)('@e2b/code-interpreter');
const made = [];
let sbx;

before(async () => {
  sbx = await Sandbox.create({ envs: { SANDBOX_LEVEL: 'from-create' }, timeoutMs: 600_000 });
  made.push(sbx.sandboxId);
});

after(async () => {
  for (const id of made) await Sandbox.kill(id).catch(() => {});
});

// The interpreter's own routes, raw, through coved's port routing.
async function raw(path, init = {}) {
  const headers = {
    'E2b-Sandbox-Id': sbx.sandboxId,
    'E2b-Sandbox-Port': '49999',
    'Content-Type': 'application/json',
    ...(sbx.envdAccessToken ? { 'X-Access-Token': sbx.envdAccessToken } : {}),
    ...(init.headers ?? {}),
  };
  return fetch(`${process.env.E2B_SANDBOX_URL}${path}`, { ...init, headers });
}

test('Sandbox.create() makes code-interpreter-v1; state is kept between runs', async () => {
  const info = await sbx.getInfo();
  assert.equal(info.templateId, 'code-interpreter-v1');
  const first = await sbx.runCode('x = 41');
  assert.equal(first.error, undefined);
  assert.deepEqual(first.results, []);
  const second = await sbx.runCode('x += 1; x');
  assert.equal(second.text, '42');
  assert.equal(second.results[0].isMainResult, true);
  assert.equal(second.executionCount, first.executionCount + 1);
});

test('stdout and stderr stream to the callbacks while the code runs', async () => {
  const seen = [];
  const started = Date.now();
  let firstAt;
  const ex = await sbx.runCode(
    'import sys, time\nprint("one", flush=True)\ntime.sleep(1.5)\nprint("two")\nprint("oops", file=sys.stderr)',
    {
      onStdout: (m) => { firstAt ??= Date.now(); seen.push(['out', m.line]); },
      onStderr: (m) => seen.push(['err', m.line]),
    },
  );
  assert.deepEqual(seen, [['out', 'one\n'], ['out', 'two\n'], ['err', 'oops\n']]);
  assert.deepEqual(ex.logs.stdout, ['one\n', 'two\n']);
  assert.deepEqual(ex.logs.stderr, ['oops\n']);
  // The first line came before the run's end (1.5 s later), not with it.
  assert.ok(Date.now() - firstAt >= 1000, `first line ${firstAt - started} ms after the start`);
});

test('results of every kind: text, html, markdown, svg, png, jpeg, pdf, latex, json, javascript, extra', async () => {
  const code = `
from IPython.display import display, HTML, Markdown, SVG, Latex, JSON, Javascript, Image
import base64
display(HTML("<b>bold</b>"))
display(Markdown("# Title"))
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>'))
display(Latex(r"$\\alpha$"))
display(JSON({"k": [1, 2]}))
display(Javascript("console.log(1)"))
class Pdf:
    def _repr_pdf_(self): return b"%PDF-1.4 tiny"
display(Pdf())
display({"application/vnd.cove.test+json": {"n": 7}, "text/plain": "custom"}, raw=True)
from PIL import Image as PILImage
import io
img = PILImage.new("RGB", (3, 2), (255, 0, 0))
buf = io.BytesIO(); img.save(buf, format="JPEG")
display(Image(data=buf.getvalue(), format="jpeg"))
img
`;
  const results = [];
  const ex = await sbx.runCode(code, { onResult: (r) => results.push(r) });
  assert.equal(ex.error, undefined, ex.error?.traceback);
  assert.equal(results.length, ex.results.length);
  const by = (f) => ex.results.find((r) => r[f] !== undefined);
  assert.equal(by('html').html, '<b>bold</b>');
  assert.equal(by('markdown').markdown, '# Title');
  assert.match(by('svg').svg, /<rect/);
  assert.equal(by('latex').latex, '$\\alpha$');
  assert.deepEqual(by('json').json, { k: [1, 2] });
  assert.equal(by('javascript').javascript, 'console.log(1)');
  assert.equal(Buffer.from(by('pdf').pdf, 'base64').toString(), '%PDF-1.4 tiny');
  const custom = ex.results.find((r) => r.text === 'custom');
  assert.deepEqual(custom.raw.extra, { 'application/vnd.cove.test+json': { n: 7 } });
  const jpeg = Buffer.from(by('jpeg').jpeg, 'base64');
  assert.equal(jpeg.readUInt16BE(0), 0xffd8); // JPEG's SOI
  // The cell's value (a PIL image) is the main result, as a PNG.
  const main = ex.results.find((r) => r.isMainResult);
  assert.ok(main && main.png, 'the PIL image is the main result');
  assert.equal(Buffer.from(main.png, 'base64').subarray(1, 4).toString(), 'PNG');
  assert.equal(ex.results.filter((r) => r.isMainResult).length, 1);
});

test('a plot comes with its PNG and its chart, the values plotted', async () => {
  const ex = await sbx.runCode(`
import matplotlib.pyplot as plt
fig, ax = plt.subplots()
ax.plot([1, 2, 3], [10, 20, 15], label="sales")
ax.plot([1, 2, 3], [5, 6, 7], label="costs")
ax.set_title("Q1")
ax.set_xlabel("Month")
ax.set_ylabel("Amount (USD)")
ax.legend()
plt.show()
`);
  assert.equal(ex.error, undefined, ex.error?.traceback);
  assert.equal(ex.results.length, 1);
  const [r] = ex.results;
  assert.equal(Buffer.from(r.png, 'base64').subarray(1, 4).toString(), 'PNG');
  assert.equal(r.chart.type, 'line');
  assert.equal(r.chart.title, 'Q1');
  assert.equal(r.chart.x_label, 'Month');
  assert.equal(r.chart.y_label, 'Amount (USD)');
  assert.equal(r.chart.y_unit, 'USD');
  const series = Object.fromEntries(r.chart.elements.map((e) => [e.label, e.points]));
  assert.deepEqual(series.sales, [[1, 10], [2, 20], [3, 15]]);
  assert.deepEqual(series.costs, [[1, 5], [2, 6], [3, 7]]);

  const kinds = await sbx.runCode(`
import matplotlib.pyplot as plt
fig, axs = plt.subplots(2, 2)
axs[0][0].bar(["a", "b"], [3, 4], label="n")
axs[0][1].pie([90, 10], labels=["big", "small"])
axs[1][0].scatter([1, 2], [3, 4], label="pts")
axs[1][1].boxplot([[1, 2, 3, 4, 5, 100]], labels=["box"])
plt.show()
`);
  const chart = kinds.results[0].chart;
  assert.equal(chart.type, 'superchart');
  const byType = Object.fromEntries(chart.elements.map((c) => [c.type, c]));
  assert.deepEqual(byType.bar.elements.map((e) => [e.label, Number(e.value)]), [['a', 3], ['b', 4]]);
  assert.deepEqual(byType.pie.elements.map((e) => [e.label, Math.round(e.angle)]), [['big', 324], ['small', 36]]);
  assert.deepEqual(byType.scatter.elements[0].points, [[1, 3], [2, 4]]);
  const box = byType.box_and_whisker.elements[0];
  assert.equal(box.label, 'box');
  assert.equal(box.median, 3.5);
  assert.deepEqual(box.outliers, [100]);
});

test('a DataFrame comes as html and as data', async () => {
  const ex = await sbx.runCode('import pandas as pd\npd.DataFrame({"a": [1, 2], "b": ["x", None]})');
  const [r] = ex.results;
  assert.match(r.html, /<table/);
  assert.deepEqual(r.data, { a: [1, 2], b: ['x', null] });
  assert.ok(r.formats().includes('data'));
});

test("the template's display formatters pass their own checks in the guest", async () => {
  const here = new URL('.', import.meta.url).pathname;
  const script = readFileSync(`${here}/../../interpreter/test_display.py`, 'utf8');
  await sbx.files.write('/tmp/test_display.py', script);
  const r = await sbx.commands.run('python3 /tmp/test_display.py', { timeoutMs: 300_000 }).catch((e) => e);
  assert.equal(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /all \d+ checks passed/);
});

test('an error comes with its name, value and traceback; the context goes on', async () => {
  const errors = [];
  const ex = await sbx.runCode('def f():\n    return 1/0\nf()', { onError: (e) => errors.push(e) });
  assert.equal(ex.error.name, 'ZeroDivisionError');
  assert.equal(ex.error.value, 'division by zero');
  // IPython's traceback (colours aside): the cell's frames and the error.
  const plain = ex.error.traceback.replace(/\x1b\[[0-9;]*m/g, '');
  assert.match(plain, /ZeroDivisionError/);
  assert.match(plain, /return 1\/0/);
  assert.match(plain, /----> 3 f\(\)/);
  assert.equal(errors.length, 1);
  assert.equal((await sbx.runCode('x')).text, '42');
});

test('contexts: made with a cwd, listed, run in, restarted (state cleared), removed', async () => {
  const ctx = await sbx.createCodeContext({ cwd: '/tmp' });
  assert.equal(ctx.language, 'python');
  assert.equal(ctx.cwd, '/tmp');
  assert.match(ctx.id, /^[0-9a-f-]{36}$/);
  const listed = await sbx.listCodeContexts();
  assert.ok(listed.some((c) => c.id === ctx.id && c.cwd === '/tmp'));
  assert.equal((await sbx.runCode('import os; os.getcwd()', { context: ctx })).text, "'/tmp'");
  await sbx.runCode('y = 7', { context: ctx });
  // The default context does not see it.
  assert.equal((await sbx.runCode("'y' in globals()")).text, 'False');
  assert.equal((await sbx.runCode('y', { context: ctx })).text, '7');
  await sbx.restartCodeContext(ctx);
  const after = await sbx.runCode('y', { context: ctx });
  assert.equal(after.error?.name, 'NameError');
  await sbx.removeCodeContext(ctx.id);
  assert.ok(!(await sbx.listCodeContexts()).some((c) => c.id === ctx.id));
  await assert.rejects(sbx.runCode('1', { context: ctx }), (e) => e.name === 'NotFoundError');
});

test("a run's envs apply to that run only; the sandbox's envVars to every run", async () => {
  const code = 'import os; (os.environ.get("SANDBOX_LEVEL"), os.environ.get("RUN_LEVEL"))';
  const withEnv = await sbx.runCode(code, { envs: { RUN_LEVEL: 'only-now', SANDBOX_LEVEL: 'shadowed' } });
  assert.equal(withEnv.text, "('shadowed', 'only-now')");
  const without = await sbx.runCode(code);
  assert.equal(without.text, "('from-create', None)");
});

test('a run past its timeoutMs is interrupted; the context keeps its state and goes on', async () => {
  await sbx.runCode('kept = "still here"');
  await assert.rejects(sbx.runCode('import time\nwhile True: time.sleep(0.1)', { timeoutMs: 3000 }),
    (e) => e.name === 'TimeoutError');
  // The interrupted loop is not running any more: the next run comes at once.
  const t0 = Date.now();
  const ex = await sbx.runCode('kept');
  assert.equal(ex.text, "'still here'");
  assert.ok(Date.now() - t0 < 20_000, `next run took ${Date.now() - t0} ms`);
});

test('a client that leaves gets its run interrupted (KeyboardInterrupt in the kernel)', async () => {
  const code = 'import time\ntry:\n    while True: time.sleep(0.1)\nexcept KeyboardInterrupt:\n    left = "interrupted"\n    raise';
  const controller = new AbortController();
  const res = await raw('/execute', { method: 'POST', body: JSON.stringify({ code }), signal: controller.signal });
  assert.equal(res.status, 200);
  const reader = res.body.getReader();
  setTimeout(() => controller.abort(), 2000);
  await assert.rejects(async () => { for (;;) if ((await reader.read()).done) break; });
  // The next run waits for the interrupted one, which ran its except.
  const ex = await sbx.runCode("globals().get('left')");
  assert.equal(ex.text, "'interrupted'");
});

test('bad input: plain-text 400s and 404s naming what is wrong', async () => {
  const cases = [
    ['/execute', '{"code":', 400, /JSON/],
    ['/execute', '{"code":1}', 400, /code must be a string/],
    ['/execute', '{"code":"1","language":"python","context_id":"x"}', 400, /cannot both be set/],
    ['/execute', '{"code":"1","language":"cobol"}', 400, /no kernel for language 'cobol'.*available: bash, javascript, python, r, typescript/],
    ['/execute', '{"code":"1","context_id":"no-such-context"}', 404, /context no-such-context not found/],
    ['/contexts', '{"cwd":"relative"}', 400, /absolute/],
  ];
  for (const [path, body, status, why] of cases) {
    const res = await raw(path, { method: 'POST', body });
    assert.equal(res.status, status, `${path} ${body}`);
    assert.match(await res.text(), why, `${path} ${body}`);
  }
  const del = await raw('/contexts/no-such-context', { method: 'DELETE' });
  assert.equal(del.status, 404);
  // A wrong envd token is refused before any code runs.
  const res = await raw('/execute', { method: 'POST', body: '{"code":"1"}', headers: { 'X-Access-Token': 'wrong' } });
  assert.equal(res.status, 401);
  await res.text();
  assert.equal((await sbx.runCode('x')).text, '42');
});

test('code that kills its kernel: the run says so, the next run gets a new kernel', async () => {
  const ctx = await sbx.createCodeContext();
  await sbx.runCode('z = 1', { context: ctx });
  const ex = await sbx.runCode('import os; os._exit(3)', { context: ctx });
  assert.equal(ex.error.name, 'KernelDied');
  assert.match(ex.error.value, /exit status 3/);
  const next = await sbx.runCode("'z' in globals()", { context: ctx });
  assert.equal(next.text, 'False');
  await sbx.removeCodeContext(ctx);
});

test('50 concurrent runs on one context run one at a time, in the order they came', async () => {
  const ctx = await sbx.createCodeContext();
  await sbx.runCode('order = []', { context: ctx });
  const runs = [];
  for (let i = 0; i < 50; i++) {
    runs.push(sbx.runCode(`order.append(${i}); len(order)`, { context: ctx }));
    // Sent in order, far enough apart that each reaches the server (through
    // coved, on a connection of its own) before the next is sent.
    await new Promise((r) => setTimeout(r, 100));
  }
  const done = await Promise.all(runs);
  done.forEach((ex, i) => assert.equal(ex.error, undefined, `run ${i}: ${ex.error?.value}`));
  // One at a time: each run saw the list one longer than the one before it.
  assert.deepEqual(done.map((ex) => Number(ex.text)).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
  const order = JSON.parse((await sbx.runCode('import json; print(json.dumps(order))', { context: ctx })).logs.stdout.join(''));
  assert.deepEqual(order, [...order].sort((a, b) => a - b), `ran in the order they came: ${order}`);
  await sbx.removeCodeContext(ctx);
});

test('10 MiB of stdout is streamed whole', async () => {
  let bytes = 0;
  const ex = await sbx.runCode('import sys\nfor i in range(10):\n    sys.stdout.write("x" * (1 << 20))', {
    onStdout: (m) => { bytes += m.line.length; },
    timeoutMs: 120_000,
  });
  assert.equal(ex.error, undefined);
  assert.equal(bytes, 10 << 20);
});

test('R: its own default context, state, envs, errors, contexts', async () => {
  const ex = await sbx.runCode('x <- c(1, 2, 3)\nsum(x)', { language: 'r', timeoutMs: 300_000 });
  assert.equal(ex.error, undefined, ex.error?.value);
  // IRkernel shows a value as display data, not as the cell's result: the
  // result is there, but not the main one (on E2B too, which runs IRkernel).
  const value = (e) => e.results[0]?.text;
  assert.equal(value(ex), '[1] 6');
  assert.match(value(await sbx.runCode('x * 2', { language: 'r' })), /2 4 6/);
  // The Python default context is another kernel.
  assert.equal((await sbx.runCode("'x' in globals()")).text, 'True');
  const env = await sbx.runCode('Sys.getenv(c("SANDBOX_LEVEL", "RUN_LEVEL"))', { language: 'r', envs: { RUN_LEVEL: 'r-run' } });
  assert.match(value(env), /from-create[\s\S]*r-run/);
  assert.equal(value(await sbx.runCode('Sys.getenv("RUN_LEVEL")', { language: 'r' })), '[1] ""');
  const err = await sbx.runCode('stop("boom")', { language: 'r' });
  assert.match(err.error?.value ?? '', /boom/);
  const ctx = await sbx.createCodeContext({ language: 'r', cwd: '/tmp' });
  assert.equal(ctx.language, 'r');
  assert.equal(value(await sbx.runCode('getwd()', { context: ctx, timeoutMs: 300_000 })), '[1] "/tmp"');
  await sbx.removeCodeContext(ctx);
});

test('bash: state between runs, envs, exit status as an error, a Ctrl-C at the time limit', async () => {
  const out = (ex) => ex.logs.stdout.join('');
  const first = await sbx.runCode('greeting=hello\ncd /tmp\necho "$greeting from $(pwd)"', { language: 'bash', timeoutMs: 300_000 });
  assert.equal(first.error, undefined, first.error?.value);
  assert.equal(out(first), 'hello from /tmp\n');
  const next = await sbx.runCode('echo $greeting $SANDBOX_LEVEL $RUN_LEVEL; pwd', { language: 'bash', envs: { RUN_LEVEL: 'b' } });
  assert.equal(out(next), 'hello from-create b\n/tmp\n');
  assert.equal(out(await sbx.runCode('echo "[$RUN_LEVEL]"', { language: 'bash' })), '[]\n');
  const failed = await sbx.runCode('ls /nonexistent', { language: 'bash' });
  assert.equal(failed.error?.name, 'CommandError');
  assert.equal(failed.error?.value, 'exit status 2');
  assert.match(out(failed), /No such file/);
  await assert.rejects(sbx.runCode('sleep 600', { language: 'bash', timeoutMs: 3000 }), (e) => e.name === 'TimeoutError');
  const t0 = Date.now();
  assert.equal(out(await sbx.runCode('echo $greeting; yes | head -1', { language: 'bash' })), 'hello\ny\n');
  assert.ok(Date.now() - t0 < 20_000, `the run after the interrupt took ${Date.now() - t0} ms`);
});

test('JavaScript: state, the last value, console output, await, errors, envs, an interrupt', async () => {
  const first = await sbx.runCode('const base = 40; let n = 2\nbase + n', { language: 'js', timeoutMs: 300_000 });
  assert.equal(first.error, undefined, first.error?.value);
  assert.equal(first.text, '42');
  const logged = await sbx.runCode('console.log("hi", base); console.error("careful"); [1, 2].map((x) => x * n)', { language: 'javascript' });
  assert.deepEqual(logged.logs.stdout, ['hi 40\n']);
  assert.deepEqual(logged.logs.stderr, ['careful\n']);
  assert.equal(logged.text, '[ 2, 4 ]');
  const waited = await sbx.runCode('await new Promise((r) => setTimeout(r, 50))\nbase * 2', { language: 'js' });
  assert.equal(waited.text, '80');
  const thrown = await sbx.runCode('null.x', { language: 'js' });
  assert.equal(thrown.error?.name, 'TypeError');
  assert.match(thrown.error?.traceback ?? '', /TypeError/);
  const env = await sbx.runCode('[process.env.SANDBOX_LEVEL, process.env.RUN_LEVEL]', { language: 'js', envs: { RUN_LEVEL: 'j' } });
  assert.equal(env.text, "[ 'from-create', 'j' ]");
  await assert.rejects(sbx.runCode('for (;;) {}', { language: 'js', timeoutMs: 3000 }), (e) => e.name === 'TimeoutError');
  assert.equal((await sbx.runCode('base', { language: 'js' })).text, '40');
});

test('TypeScript: types erased, runs on its own JavaScript context', async () => {
  const ex = await sbx.runCode('interface P { x: number }\nconst p: P = { x: 3 }\np.x * 2', { language: 'ts', timeoutMs: 300_000 });
  assert.equal(ex.error, undefined, ex.error?.value);
  assert.equal(ex.text, '6');
  const ctx = await sbx.createCodeContext({ language: 'typescript' });
  assert.equal(ctx.language, 'typescript');
  assert.equal((await sbx.runCode('const s: string = "ok"; s', { context: ctx })).text, "'ok'");
  await sbx.removeCodeContext(ctx);
});

test('a language the template has no kernel for answers 400 naming what it has', async () => {
  const res = await raw('/execute', { method: 'POST', body: JSON.stringify({ code: '1', language: 'java' }) });
  assert.equal(res.status, 400);
  assert.match(await res.text(), /no kernel for language 'java'.*available: bash, javascript, python, r, typescript/);
});
