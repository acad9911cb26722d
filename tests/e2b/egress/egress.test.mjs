// Egress by domain through the official JS SDK (npm e2b), unmodified,
// against a real coved started by tests/integration/egress.sh with
// --dns naming the test internet's DNS server (tests/inet.sh's lab:
// allowed.test, a.wild.test, b.wild.test, denied.test, each an echo server
// on HTTP and HTTPS that answers with what it saw). Guests use curl, and
// the lab's CA for HTTPS. A refused connection is reset by coved's egress
// proxy: curl exits 56 (HTTP) or 35 (TLS).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const { Sandbox, CommandExitError } = createRequire(`${process.env.COVE_NODE_DIR}/`)('e2b');
const api = process.env.E2B_API_URL;
const key = process.env.E2B_API_KEY;
const ca = readFileSync(process.env.INET_CA, 'utf8');
const addr = JSON.parse(process.env.INET_ADDRS); // name -> lab address
const made = [];

after(async () => {
  for (const id of made) await Sandbox.kill(id).catch(() => {});
});

async function sandbox(network) {
  const sbx = await Sandbox.create('base', { timeoutMs: 300_000, network });
  made.push(sbx.sandboxId);
  await sbx.files.write('/tmp/ca.pem', ca);
  return sbx;
}

// curl from the guest: { code, body } (code: curl's exit status).
async function fetchIn(sbx, url, extra = '') {
  const cmd = `curl -sS --max-time 8 --cacert /tmp/ca.pem ${extra} '${url}'`;
  try {
    const r = await sbx.commands.run(cmd, { timeoutMs: 30_000 });
    return { code: 0, body: r.stdout };
  } catch (e) {
    if (!(e instanceof CommandExitError)) throw e;
    return { code: e.exitCode, body: e.stdout + e.stderr };
  }
}

async function reaches(sbx, url, extra) {
  const r = await fetchIn(sbx, url, extra);
  if (r.code !== 0) return { ok: false, why: `curl ${r.code}: ${r.body}` };
  const seen = JSON.parse(r.body);
  return { ok: true, seen };
}

async function expectOk(sbx, url, host, extra) {
  const r = await reaches(sbx, url, extra);
  assert.ok(r.ok, `${url}: ${r.why}`);
  assert.equal(r.seen.host.split(':')[0], host);
  assert.equal(r.seen.local.address, addr[host], `${url} reached ${r.seen.local.address}`);
  return r.seen;
}

async function expectRefused(sbx, url, extra) {
  const r = await reaches(sbx, url, extra);
  assert.ok(!r.ok, `${url} was reached: ${JSON.stringify(r.seen)}`);
}

test('allowOut names and wildcards with all else denied, over HTTP and HTTPS', async () => {
  const sbx = await sandbox({ allowOut: ['allowed.test', '*.wild.test'], denyOut: ['0.0.0.0/0'] });
  for (const scheme of ['http', 'https']) {
    const seen = await expectOk(sbx, `${scheme}://allowed.test/`, 'allowed.test');
    if (scheme === 'https') assert.equal(seen.sni, 'allowed.test');
    await expectOk(sbx, `${scheme}://a.wild.test/x`, 'a.wild.test');
    await expectOk(sbx, `${scheme}://b.wild.test/`, 'b.wild.test');
    await expectRefused(sbx, `${scheme}://denied.test/`);
  }
  // Names resolve (DNS stays open to the nameservers); only the lab's names exist.
  const r = await sbx.commands.run('getent hosts denied.test');
  assert.match(r.stdout, new RegExp(addr['denied.test'].replace(/\./g, '\\.')));
  const info = await sbx.getInfo();
  assert.deepEqual(info.network?.allowOut, ['allowed.test', '*.wild.test']);
});

test('precedence: allow wins over deny; internet on, names denied', async () => {
  const sbx = await sandbox({ allowOut: ['b.wild.test'], denyOut: ['*.wild.test', 'denied.test'] });
  for (const scheme of ['http', 'https']) {
    await expectOk(sbx, `${scheme}://b.wild.test/`, 'b.wild.test');
    await expectRefused(sbx, `${scheme}://a.wild.test/`);
    await expectRefused(sbx, `${scheme}://denied.test/`);
    await expectOk(sbx, `${scheme}://allowed.test/`, 'allowed.test');
  }
});

test('IP and domain rules mixed', async () => {
  const sbx = await sandbox({ allowOut: ['allowed.test', addr['denied.test']], denyOut: ['0.0.0.0/0'] });
  await expectOk(sbx, 'https://allowed.test/', 'allowed.test');
  // denied.test's address is allowed as an address: reached though its name is not listed.
  await expectOk(sbx, 'https://denied.test/', 'denied.test');
  await expectRefused(sbx, 'https://a.wild.test/');
});

test('a guest that pairs an allowed name with an address of its own reaches the name\'s own address', async () => {
  const sbx = await sandbox({ allowOut: ['allowed.test'], denyOut: ['0.0.0.0/0'] });
  const evil = addr['denied.test'];
  // HTTP: Host says allowed.test, the connection goes to denied.test's address.
  await expectOk(sbx, 'http://allowed.test/', 'allowed.test', `--resolve allowed.test:80:${evil}`);
  // TLS: SNI says allowed.test, the same.
  const seen = await expectOk(sbx, 'https://allowed.test/', 'allowed.test', `--resolve allowed.test:443:${evil}`);
  assert.equal(seen.sni, 'allowed.test');
  // A Host header alone, to an address: refused (the name is judged, and
  // what is reached is allowed.test's server, never denied.test's).
  const r = await reaches(sbx, `http://${evil}/`, '-H "Host: allowed.test"');
  if (r.ok) assert.equal(r.seen.local.address, addr['allowed.test']);
});

test('updateNetwork replaces the policy for new connections; an open one goes on', async () => {
  const sbx = await sandbox({ allowOut: ['allowed.test'], denyOut: ['0.0.0.0/0'] });
  // A slow download, open while the policy changes.
  await sbx.commands.run(
    "curl -sS --max-time 60 --limit-rate 1M -o /tmp/big -w '%{http_code} %{size_download}\\n' http://allowed.test/big?mib=4 >/tmp/big.out 2>&1 &",
    { timeoutMs: 10_000 });
  // Under way (bytes arriving) before the policy changes.
  let size = 0;
  for (let i = 0; i < 100 && size === 0; i++) {
    size = Number((await sbx.commands.run('stat -c %s /tmp/big 2>/dev/null || echo 0')).stdout.trim());
    if (size === 0) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(size > 0, 'the download did not start');
  await sbx.updateNetwork({ allowOut: ['denied.test'], denyOut: ['0.0.0.0/0'] });
  await expectRefused(sbx, 'http://allowed.test/');
  await expectOk(sbx, 'http://denied.test/', 'denied.test');
  const info = await sbx.getInfo();
  assert.deepEqual(info.network?.allowOut, ['denied.test']);
  let out = '';
  for (let i = 0; i < 60 && !out.trim(); i++) {
    out = (await sbx.commands.run('cat /tmp/big.out')).stdout;
    if (!out.trim()) await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal(out.trim(), `200 ${4 * 1024 * 1024}`);
  // Omitted fields clear: back to the open internet.
  await sbx.updateNetwork({});
  await expectOk(sbx, 'http://allowed.test/', 'allowed.test');
});

test('bad domain entries are a 400 naming the field', async () => {
  const bad = ['exa mple.test', 'a.*.test', 'allowed.test.*', '*.', '-x.test', 'x'.repeat(64) + '.test'];
  for (const entry of bad) {
    const res = await fetch(`${api}/sandboxes`, {
      method: 'POST',
      headers: { 'X-API-KEY': key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ templateID: 'base', network: { allowOut: [entry] } }),
    });
    const body = await res.text();
    assert.equal(res.status, 400, `${entry}: ${res.status} ${body}`);
    assert.match(body, /allowOut/, entry);
  }
  const many = Array.from({ length: 1000 }, (_, i) => `h${i}.test`);
  const res = await fetch(`${api}/sandboxes`, {
    method: 'POST',
    headers: { 'X-API-KEY': key, 'Content-Type': 'application/json' },
    body: JSON.stringify({ templateID: 'base', network: { allowOut: many } }),
  });
  assert.equal(res.status, 400, await res.text());
});

test('egressProxy: allowed connections go through the user\'s SOCKS5 proxy with its login; getInfo has no password', async () => {
  const socks = process.env.SOCKS_ADDR;
  const egressProxy = { address: socks, username: 'tester', password: 's3cret' };
  const sbx = await sandbox({ allowOut: ['allowed.test'], denyOut: ['0.0.0.0/0'], egressProxy });
  await expectOk(sbx, 'http://allowed.test/', 'allowed.test');
  await expectOk(sbx, 'https://allowed.test/', 'allowed.test');
  await expectRefused(sbx, 'https://denied.test/');
  const log = readFileSync(process.env.SOCKS_LOG, 'utf8');
  assert.match(log, /CONNECT allowed\.test:80 user=tester/);
  assert.match(log, /CONNECT allowed\.test:443 user=tester/);
  assert.doesNotMatch(log, /denied\.test|104/);
  const info = await sbx.getInfo();
  assert.equal(info.network?.egressProxy?.address, socks);
  assert.equal(info.network?.egressProxy?.username, 'tester');
  assert.ok(!JSON.stringify(info).includes('s3cret'), JSON.stringify(info.network));
  // A wrong password: the proxy refuses the login, the guest's connection fails.
  await sbx.updateNetwork({ allowOut: ['allowed.test'], denyOut: ['0.0.0.0/0'],
    egressProxy: { ...egressProxy, password: 'wrong' } });
  await expectRefused(sbx, 'http://allowed.test/');
  assert.match(readFileSync(process.env.SOCKS_LOG, 'utf8'), /refused login user=tester/);
});
