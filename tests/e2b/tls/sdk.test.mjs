// The official E2B SDK against coved over HTTPS, configured as an E2B user
// would be: E2B_DOMAIN=localhost:PORT and NODE_EXTRA_CA_CERTS, with no
// E2B_API_URL or E2B_SANDBOX_URL (tests/integration/tls.sh sets them). So
// the API is https://api.localhost:PORT, envd https://49983-ID.localhost:PORT
// and sbx.getHost(8000) 8000-ID.localhost:PORT, each name resolved by glibc
// (libnss-myhostname) and given its own certificate by coved.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { request } from 'node:https';
import { rootCertificates } from 'node:tls';

const { Sandbox } = createRequire(`${process.env.COVE_NODE_DIR}/`)('e2b');
const domain = process.env.E2B_DOMAIN;
const port = domain.split(':')[1];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const made = [];

after(async () => {
  for (const id of made) await Sandbox.kill(id).catch(() => {});
});

// GET url, reporting the TLS failure's code rather than throwing.
function get(url, options = {}) {
  return new Promise((resolve) => {
    const req = request(url, options, (res) => {
      const alpn = res.socket.alpnProtocol;
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body, alpn }));
    });
    req.on('error', (e) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

test('the SDK reaches the API and envd over HTTPS by E2B_DOMAIN alone', async () => {
  assert.equal(process.env.E2B_API_URL, undefined);
  assert.equal(process.env.E2B_SANDBOX_URL, undefined);
  const sbx = await Sandbox.create('base');
  made.push(sbx.sandboxId);
  const info = await sbx.getInfo();
  assert.equal(info.sandboxId, sbx.sandboxId);
  assert.equal(info.state, 'running');
  const r = await sbx.commands.run('echo over-tls; id -un');
  assert.equal(r.stdout, 'over-tls\nuser\n');
  await sbx.files.write('/tmp/tls.txt', 'written over https');
  assert.equal(await sbx.files.read('/tmp/tls.txt'), 'written over https');
  assert.ok((await sbx.files.list('/tmp')).some((e) => e.name === 'tls.txt'));
  assert.ok((await Sandbox.list().nextItems()).some((s) => s.sandboxId === sbx.sandboxId));

  // A server in the guest, by the URL the SDK gives users.
  assert.equal(sbx.getHost(8000), `8000-${sbx.sandboxId}.${domain}`);
  await sbx.commands.run('mkdir -p /tmp/w && echo from-guest > /tmp/w/index.html');
  await sbx.commands.run('python3 -m http.server 8000 --directory /tmp/w', { background: true });
  let page;
  for (let i = 0; i < 100; i++) {
    page = await fetch(`https://${sbx.getHost(8000)}/index.html`);
    if (page.status === 200) break;
    await sleep(100);
  }
  assert.equal(page.status, 200);
  assert.equal(await page.text(), 'from-guest\n');

  // Offered h2 and http/1.1, coved picks http/1.1.
  const h = await get(`https://${sbx.getHost(8000)}/index.html`, { ALPNProtocols: ['h2', 'http/1.1'] });
  assert.equal(h.status, 200);
  assert.equal(h.alpn, 'http/1.1');

  assert.equal(await Sandbox.kill(sbx.sandboxId), true);
  made.pop();
  const gone = await fetch(`https://${sbx.getHost(8000)}/index.html`);
  assert.equal(gone.status, 502);
  assert.equal(await sbx.isRunning(), false);
});

test('api.DOMAIN is the control plane: the API key is asked for', async () => {
  const r = await get(`https://api.${domain}/sandboxes`);
  assert.equal(r.status, 401);
  assert.match(r.body, /"code":401/);
});

test('a client that asks for another name fails its certificate check', async () => {
  const r = await get(`https://127.0.0.1:${port}/sandboxes`, { servername: 'api.example.com',
    headers: { host: 'api.example.com' } });
  assert.equal(r.error, 'ERR_TLS_CERT_ALTNAME_INVALID');
  // A name two labels under the domain: no certificate is minted for it.
  const deep = await get(`https://127.0.0.1:${port}/`, { servername: 'a.b.localhost' });
  assert.equal(deep.error, 'ERR_TLS_CERT_ALTNAME_INVALID');
  // And one who does not trust coved's CA (only the public roots) is told so.
  const untrusted = await get(`https://api.${domain}/sandboxes`, { ca: rootCertificates });
  assert.equal(untrusted.error, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
});
