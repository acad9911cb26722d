// What the `base` template must have, checked in a real sandbox created
// through coved by the official SDK (tests/integration/base.sh): the tools
// E2B's base has and the SDK's own helpers and tests run (git with `git
// daemon`, python as python3 with pip and venv, node and npm, a C toolchain,
// curl, wget, openssl, jq, unzip, sudo), as the default user in the default
// directory. Offline: nothing here needs the internet. A recipe change that
// drops one of them fails here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAgent } from '../agent.mjs';

let agent;
let sbx;
let dir; // a scratch directory of the default user's

// Runs a shell command as the default user; a non-zero exit fails the test
// with the command's output (the SDK's CommandExitError carries it).
async function sh(cmd, opts = {}) {
  try {
    return await sbx.commands.run(cmd, { timeoutMs: 120_000, ...opts });
  } catch (e) {
    if (e.exitCode !== undefined) assert.fail(`${cmd}\nexit ${e.exitCode}\nstdout: ${e.stdout}\nstderr: ${e.stderr}`);
    throw e;
  }
}

before(async () => {
  ({ agent, sbx } = await startAgent());
  dir = (await sh('mktemp -d /tmp/base-tools.XXXXXX')).stdout.trim();
  // Made by the user, who then writes in them: the agent makes the parents
  // files.write needs as root (envd makes them the user's), and what this
  // test checks is the template, not that.
  await sh('mkdir -p probe www c npm/lib zip git', { cwd: dir });
});

after(() => agent?.kill());

test('commands run as `user` in /home/user, a login shell with HOME set', async () => {
  const r = await sh('id -un; id -u; pwd; echo "$HOME"');
  assert.equal(r.stdout, 'user\n1000\n/home/user\n/home/user\n');
});

test('sudo -n works for user, without a password', async () => {
  const r = await sh('sudo -n true && sudo -n id -u');
  assert.equal(r.stdout, '0\n');
});

test('python is python3, with pip and venv', async () => {
  const r = await sh('python --version; python3 --version; pip --version; pip3 --version');
  const [py, py3, pip, pip3] = r.stdout.trim().split('\n');
  assert.match(py, /^Python 3\.\d+\.\d+$/);
  assert.equal(py, py3);
  assert.match(pip, /^pip \d+.* \(python 3\.\d+\)$/);
  assert.match(pip3, /^pip \d+/);
  const v = await sh(`python -m venv ${dir}/venv && ${dir}/venv/bin/python -c 'import sys; print(sys.prefix)' && ${dir}/venv/bin/pip --version`);
  assert.match(v.stdout, new RegExp(`^${dir}/venv\\npip \\d+`));
});

test('pip install works for user (into ~/.local), as on E2B', async () => {
  // A local package, built offline with the setuptools apt installed.
  await sbx.files.write(`${dir}/probe/pyproject.toml`,
    '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n' +
    '[project]\nname = "cove-probe"\nversion = "1.0"\n\n[tool.setuptools]\npy-modules = ["cove_probe"]\n');
  await sbx.files.write(`${dir}/probe/cove_probe.py`, 'ANSWER = 42\n');
  await sh(`pip install --no-index --no-build-isolation ${dir}/probe`);
  const r = await sh(`cd / && python -c 'import cove_probe; print(cove_probe.ANSWER, cove_probe.__file__)'`);
  assert.match(r.stdout, /^42 \/home\/user\/\.local\/lib\/python3\.\d+\/site-packages\/cove_probe\.py\n$/);
  await sh('pip uninstall -y cove-probe');
});

test('python -m http.server serves what curl fetches (as the SDK tests do)', async () => {
  await sbx.files.write(`${dir}/www/hello.txt`, 'hello from base\n');
  const server = await sbx.commands.run('python -m http.server 8000 --bind 127.0.0.1', { cwd: `${dir}/www`, background: true });
  try {
    const r = await sh('for i in $(seq 1 100); do curl -sf http://127.0.0.1:8000/hello.txt && exit 0; sleep 0.1; done; exit 1');
    assert.equal(r.stdout, 'hello from base\n');
  } finally {
    await server.kill();
  }
});

test('gcc, g++ and make build a hello world; python headers are there', async () => {
  await sbx.files.write(`${dir}/c/hello.c`, '#include <stdio.h>\nint main(void) { puts("hello, c"); return 0; }\n');
  await sbx.files.write(`${dir}/c/hello.cc`, '#include <iostream>\nint main() { std::cout << "hello, c++" << std::endl; }\n');
  await sbx.files.write(`${dir}/c/Makefile`, 'all: hello\nhello: hello.c\n\tgcc -O2 -o $@ $<\n');
  const r = await sh('make -s && ./hello && g++ -o hellocc hello.cc && ./hellocc', { cwd: `${dir}/c` });
  assert.equal(r.stdout, 'hello, c\nhello, c++\n');
  await sh(`echo '#include <Python.h>' | gcc -fsyntax-only $(python3-config --includes) -x c -`);
});

test('node runs and npm installs a local package offline', async () => {
  const n = await sh('node -e "console.log(process.version, 6 * 7)"; npm --version');
  assert.match(n.stdout, /^v\d+\.\d+\.\d+ 42\n\d+\.\d+\.\d+\n$/);
  await sbx.files.write(`${dir}/npm/lib/package.json`, JSON.stringify({ name: 'cove-probe', version: '1.0.0', main: 'index.js' }));
  await sbx.files.write(`${dir}/npm/lib/index.js`, 'module.exports = "probe loaded";\n');
  const r = await sh('cd lib && npm pack --silent && mkdir ../app && cd ../app && npm init -y >/dev/null && ' +
    'npm install --offline --no-audit --no-fund ../lib/cove-probe-1.0.0.tgz >/dev/null && ' +
    `node -e 'console.log(require("cove-probe"))'`, { cwd: `${dir}/npm`, envs: { npm_config_loglevel: 'error' } });
  assert.equal(r.stdout.trim().split('\n').pop(), 'probe loaded');
});

test('git daemon serves a repo that git clone fetches over git://127.0.0.1', async () => {
  const d = `${dir}/git`;
  await sh(`mkdir -p ${d}/srv && cd ${d} && git init -q -b main src && cd src && echo one > one.txt && git add one.txt && ` +
    `git -c user.name=Cove -c user.email=cove@example.com commit -q -m first && cd .. && git clone -q --bare src srv/repo.git`);
  await sh(`git daemon --listen=127.0.0.1 --port=9418 --base-path=${d}/srv --export-all --reuseaddr --detach --pid-file=${d}/daemon.pid`);
  try {
    await sh('for i in $(seq 1 100); do git ls-remote git://127.0.0.1/repo.git >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1');
    // Through the SDK's own helper, as its git tests do.
    await sbx.git.clone('git://127.0.0.1/repo.git', { path: `${d}/clone` });
    const log = await sh(`git -C ${d}/clone log --format=%s; cat ${d}/clone/one.txt`);
    assert.equal(log.stdout, 'first\none\n');
    const status = await sbx.git.status(`${d}/clone`);
    assert.equal(status.currentBranch, 'main');
    assert.equal(status.fileStatus.length, 0);
  } finally {
    await sh(`kill $(cat ${d}/daemon.pid)`);
  }
});

test('curl, wget, openssl, jq, unzip and ssh are there and work', async () => {
  const v = await sh('curl --version | head -1; wget --version | head -1; openssl version; ssh -V 2>&1; git --version');
  const lines = v.stdout.trim().split('\n');
  assert.match(lines[0], /^curl \d/);
  assert.match(lines[1], /^GNU Wget \d/);
  assert.match(lines[2], /^OpenSSL \d/);
  assert.match(lines[3], /^OpenSSH_\d/);
  assert.match(lines[4], /^git version \d/);
  const j = await sh(`echo '{"a":[1,2,3]}' | jq -c '.a | map(. * 2)'`);
  assert.equal(j.stdout, '[2,4,6]\n');
  await sbx.files.write(`${dir}/zip/in.txt`, 'zipped\n');
  const z = await sh('python -m zipfile -c out.zip in.txt && rm in.txt && unzip -q out.zip && cat in.txt', { cwd: `${dir}/zip` });
  assert.equal(z.stdout, 'zipped\n');
  const h = await sh(`printf cove | openssl dgst -sha256 -r | cut -d' ' -f1`);
  assert.equal(h.stdout, '6a259d3299684d8a1f5693be49dde21e5e22195158487a86c3d73d07c36a5cfc\n');
});
