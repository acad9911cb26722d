// envd's REST side of a secured sandbox (one with an access token, as every
// sandbox E2B's v2 create makes): GET /envs after /init, and the signed URLs
// that sbx.downloadUrl()/uploadUrl() make, with the exact answers E2B's own
// tests expect. On the host this file starts an agent of its own and gives
// it a token through /init, as a host does; in a guest or through coved the
// sandbox already has one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAgent, plainFetch, guestMode, sdk } from './agent.mjs';

let agent;
let sbx;
const token = guestMode ? null : `host-token-${process.pid}`;
const names = []; // files the test wrote, relative to the default user's home

before(async () => {
  let port;
  ({ agent, sbx, port } = await startAgent());
  if (!guestMode) {
    // As the host does once the agent answers: a token, the sandbox's env.
    const res = await fetch(`http://127.0.0.1:${port}/init`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ accessToken: token, envVars: { FROM_INIT: 'yes' } }),
    });
    assert.equal(res.status, 204);
    sbx = new sdk.Sandbox({
      sandboxId: 'cove-host',
      sandboxUrl: `http://127.0.0.1:${port}`,
      debug: true,
      apiKey: 'cove-test',
      envdVersion: '0.6.4',
      envdAccessToken: token,
    });
  }
});

after(async () => {
  for (const n of names) await sbx?.files.remove(n, { user: n.startsWith('/root/') ? 'root' : undefined }).catch(() => {});
  agent?.kill();
});

function envd(path, { auth = true, ...init } = {}) {
  const headers = { ...(init.headers ?? {}) };
  if (auth) headers['X-Access-Token'] = sbx.envdAccessToken;
  return plainFetch(sbx, new URL(path, sbx.envdDirectUrl), { ...init, headers });
}

// A file name of this run's (removed at the end), under in when given.
function scratch(prefix, under = '') {
  const n = `${prefix}-${process.pid}-${names.length}.txt`;
  names.push(under + n);
  return n;
}

test('the sandbox has an access token (signed URLs need one)', () => {
  assert.ok(sbx.envdAccessToken);
});

test('GET /envs: the environment /init set, needing the token, never cached', async () => {
  const first = await envd('/envs');
  assert.equal(first.status, 200);
  assert.equal(first.headers.get('cache-control'), 'no-store');
  assert.match(first.headers.get('content-type'), /^application\/json/);
  const initial = await first.json();
  // As envd's, /init adds to what it set before: a name given again takes
  // the new value, the others stay.
  const added = { ...initial, COVE_ENVS_TEST: 'a=b c', COVE_ENVS_UTF8: 'café' };
  const init = (envVars) => envd('/init', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ envVars }),
  });
  assert.equal((await init(added)).status, 204);
  assert.deepEqual(await (await envd('/envs')).json(), added);
  assert.equal((await sbx.commands.run('echo "$COVE_ENVS_TEST"')).stdout, 'a=b c\n');
  assert.equal((await init({ COVE_ENVS_TEST: 'again' })).status, 204);
  assert.deepEqual(await (await envd('/envs')).json(), { ...added, COVE_ENVS_TEST: 'again' });
  const refused = await envd('/envs', { auth: false });
  assert.equal(refused.status, 401);
  const body = await refused.json();
  assert.equal(body.code, 401);
  assert.equal(typeof body.message, 'string');
});

test('downloadUrl of a relative path, default user, no expiry: read without the token', async () => {
  const name = scratch('signed-down');
  await sbx.files.write(name, 'hello world');
  const url = await sbx.downloadUrl(name);
  assert.match(url, /signature=v1_/);
  assert.doesNotMatch(url, /username=|signature_expiration=/);
  const res = await plainFetch(sbx, url);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'hello world');
});

test('downloadUrl with an expiry (seconds from now), and as root', async () => {
  const name = scratch('signed-exp');
  await sbx.files.write(name, 'hello world');
  const url = await sbx.downloadUrl(name, { useSignatureExpiration: 10_000 });
  const exp = Number(new URL(url).searchParams.get('signature_expiration'));
  assert.ok(Math.abs(exp - (Date.now() / 1000 + 10_000)) < 60, `expiration ${exp}`);
  const res = await plainFetch(sbx, url);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'hello world');
  const rootName = scratch('signed-root', '/root/'); // relative to root's home
  await sbx.files.write(rootName, 'as root', { user: 'root' });
  const asRoot = await sbx.downloadUrl(rootName, { user: 'root', useSignatureExpiration: 10_000 });
  assert.match(asRoot, /username=root/);
  assert.equal(await (await plainFetch(sbx, asRoot)).text(), 'as root');
});

test('uploadUrl of a relative path, default user, with and without expiry: EntryInfo of the home path', async () => {
  const home = (await sbx.commands.run('echo "$HOME"')).stdout.trim();
  for (const opts of [{}, { useSignatureExpiration: 10_000 }]) {
    const name = scratch('signed-up');
    const form = new FormData();
    form.append('file', new Blob(['file content']));
    const res = await plainFetch(sbx, await sbx.uploadUrl(name, opts), { method: 'POST', body: form });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), [{ name, path: `${home}/${name}`, type: 'file' }]);
    assert.equal(await sbx.files.read(name), 'file content');
  }
});

test('an expired signature: 401 {"code":401,"message":"signature is already expired"} exactly, both ways', async () => {
  const name = scratch('signed-expired');
  await sbx.files.write(name, 'hello world');
  const down = await plainFetch(sbx, await sbx.downloadUrl(name, { useSignatureExpiration: -10_000 }));
  assert.equal(down.status, 401);
  assert.deepEqual(JSON.parse(await down.text()), { code: 401, message: 'signature is already expired' });
  const form = new FormData();
  form.append('file', 'file content');
  const up = await plainFetch(sbx, await sbx.uploadUrl(name, { useSignatureExpiration: -100_000 }), { method: 'POST', body: form });
  assert.equal(up.status, 401);
  assert.deepEqual(JSON.parse(await up.text()), { code: 401, message: 'signature is already expired' });
  assert.equal(await sbx.files.read(name), 'hello world'); // the refused upload wrote nothing
});

test('a signature is bound to its path, operation and user', async () => {
  const name = scratch('signed-bound');
  await sbx.files.write(name, 'x');
  const url = new URL(await sbx.downloadUrl(name));
  const tamper = async (key, value) => {
    const u = new URL(url);
    u.searchParams.set(key, value);
    const res = await plainFetch(sbx, u);
    return [res.status, await res.json()];
  };
  assert.deepEqual(await tamper('path', '/etc/passwd'), [401, { code: 401, message: 'invalid signature' }]);
  assert.deepEqual(await tamper('username', 'root'), [401, { code: 401, message: 'invalid signature' }]);
  const write = new URL(await sbx.uploadUrl(name));
  assert.equal((await plainFetch(sbx, new URL(`/files?${write.searchParams}`, url))).status, 401);
  // An Authorization header naming another user does not move it: the
  // signed user's file is read, and an upload lands in the signed user's home.
  const asRoot = { authorization: `Basic ${Buffer.from('root:').toString('base64')}` };
  const got = await plainFetch(sbx, url, { headers: asRoot });
  assert.equal(got.status, 200);
  assert.equal(await got.text(), 'x');
  const form = new FormData();
  form.append('file', new Blob(['signed user']));
  const up = await plainFetch(sbx, await sbx.uploadUrl(name), { method: 'POST', body: form, headers: asRoot });
  assert.equal(up.status, 200);
  assert.equal(await sbx.files.read(name), 'signed user');
  assert.equal((await sbx.commands.run(`stat -c %U ${name}`)).stdout.trim(), (await sbx.commands.run('id -un')).stdout.trim());
});
