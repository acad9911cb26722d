// The JavaScript side of cove_js_kernel: one Node.js process whose global
// context lasts between runs. Requests come on stdin and replies go out on
// fd 3, one JSON object per line; the code's own output (console.log,
// process.stdout, child processes) goes to stdout and stderr, which the
// kernel streams. Each run: the code is compiled as a script in the context
// (so its value is the last expression's), or, when it uses await at top
// level, as the body of an async function; a promise it ends with is
// awaited; the value, unless undefined, comes back inspected.
'use strict';
const fs = require('fs');
const path = require('path');
const { createRequire } = require('module');
const readline = require('readline');
const util = require('util');
const vm = require('vm');

// require() resolves from the context's working directory, as in a REPL
// started there (packages the user installs with npm are found).
const cellRequire = createRequire(path.join(process.cwd(), 'cell.js'));
const context = vm.createContext(Object.assign(Object.create(null), {
  require: cellRequire, module: { exports: {} }, console, process, Buffer, setTimeout, setInterval, clearTimeout, clearInterval,
  setImmediate, clearImmediate, URL, URLSearchParams, TextEncoder, TextDecoder, fetch: globalThis.fetch,
}));
const replyFd = Number(process.env.COVE_JS_REPLY_FD);
delete process.env.COVE_JS_REPLY_FD;

function reply(obj) {
  fs.writeSync(replyFd, JSON.stringify(obj) + '\n');
}

// Code with await at top level runs as an async function's body; its last
// line, if it is an expression, is returned (as a REPL shows it).
// The typescript kernelspec sets COVE_JS_TYPESCRIPT: each cell is
// transpiled first (Debian's TypeScript; types are erased, not checked).
const ts = process.env.COVE_JS_TYPESCRIPT ? require('typescript') : null;

function compile(source) {
  const code = ts
    ? ts.transpileModule(source, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.None } }).outputText
    : source;
  try {
    return new vm.Script(code, { filename: 'cell' });
  } catch (e) {
    if (!(e instanceof SyntaxError) && e.name !== 'SyntaxError') throw e;
    if (!/\bawait\b/.test(code)) throw e;
  }
  const lines = code.replace(/\s+$/, '').split('\n');
  const last = lines.pop().replace(/;\s*$/, '');
  try {
    return new vm.Script(`(async () => {\n${lines.join('\n')}\nreturn (${last});\n})()`, { filename: 'cell' });
  } catch {
    return new vm.Script(`(async () => {\n${code}\n})()`, { filename: 'cell' });
  }
}

// An interrupt (SIGINT from the kernel) ends a run waiting on a promise;
// one running synchronous code is ended by breakOnSigint instead.
let interrupt = null;
process.on('SIGINT', () => {
  if (interrupt) interrupt(new Error('Script execution interrupted.'));
});

async function run(code) {
  let value = compile(code).runInContext(context, { breakOnSigint: true, displayErrors: false });
  if (value && typeof value.then === 'function') {
    const interrupted = new Promise((_, reject) => { interrupt = reject; });
    try {
      value = await Promise.race([value, interrupted]);
    } finally {
      interrupt = null;
    }
  }
  return value;
}

// A stack as far as the user's code: the runner's frames are noise.
function trimStack(stack) {
  const lines = String(stack).split('\n');
  const end = lines.findIndex((l) => /node:vm|runner\.js/.test(l));
  return (end > 0 ? lines.slice(0, end) : lines).join('\n');
}

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  queue = queue.then(async () => {
    const req = JSON.parse(line);
    try {
      const value = await run(req.code);
      // Output written by the code reaches the pipes before the reply.
      await new Promise((r) => process.stdout.write('', r));
      await new Promise((r) => process.stderr.write('', r));
      reply({ id: req.id, ok: true, text: value === undefined ? null : util.inspect(value) });
    } catch (e) {
      await new Promise((r) => process.stdout.write('', r));
      // Errors made in the context are not this realm's Error instances.
      const isError = e !== null && typeof e === 'object' && 'message' in e;
      reply({
        id: req.id, ok: false, name: (isError && e.name) || 'Error', value: isError ? String(e.message) : util.inspect(e),
        stack: trimStack((isError && e.stack) || ''),
      });
    }
  });
});
lines.on('close', () => process.exit(0));
reply({ ready: true });
