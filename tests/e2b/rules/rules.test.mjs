// network.rules (header injection) and secrets through the official JS SDK
// (npm e2b), unmodified, against a real coved started by
// tests/integration/rules.sh: --dns is the test internet's DNS server
// (tests/inet.sh's lab: allowed.test, a.wild.test, b.wild.test,
// denied.test, echo servers on HTTP and HTTPS answering with what they
// saw), --upstream-ca the lab's CA. Guests use curl with their system trust
// store, which holds Cove's egress authority.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const { Sandbox, Secret, CommandExitError } = createRequire(`${process.env.COVE_NODE_DIR}/`)('e2b');
const ca = readFileSync(process.env.INET_CA, 'utf8');
const made = [];
const secrets = [];
const sha = (s) => createHash('sha256').update(s).digest('hex');

after(async () => {
  for (const id of made) await Sandbox.kill(id).catch(() => {});
  for (const s of secrets) await Secret.destroy(s).catch(() => {});
});

async function secret(name) {
  const value = `sk-${randomBytes(12).toString('hex')}`;
  await Secret.create(name, value);
  secrets.push(name);
  return value;
}

async function sandbox(network) {
  const sbx = await Sandbox.create('base', { timeoutMs: 300_000, network });
  made.push(sbx.sandboxId);
  await sbx.files.write('/tmp/lab-ca.pem', ca);
  return sbx;
}

// curl from the guest: { code, body } (code: curl's exit status).
async function curl(sbx, args) {
  try {
    const r = await sbx.commands.run(`curl -sS --max-time 10 ${args}`, { timeoutMs: 40_000 });
    return { code: 0, body: r.stdout };
  } catch (e) {
    if (!(e instanceof CommandExitError)) throw e;
    return { code: e.exitCode, body: e.stdout + e.stderr };
  }
}

async function seen(sbx, args) {
  const r = await curl(sbx, args);
  assert.equal(r.code, 0, `curl ${args}: ${r.body}`);
  return JSON.parse(r.body);
}

const lockedDown = { allowOut: ['allowed.test', '*.wild.test'], denyOut: ['0.0.0.0/0'] };

test('headers set on HTTPS and HTTP requests to a host with rules, secrets filled in, the guest never sees them', async () => {
  const value = await secret('echo-key');
  const sbx = await sandbox({
    ...lockedDown,
    rules: {
      'allowed.test': [
        { transform: { headers: { Authorization: 'Bearer ${e2b.secrets.echo-key}' } } },
        { transform: { headers: { 'X-Static': 'one', 'X-Other': 'two' } } },
      ],
      '*.wild.test': [{ transform: { headers: { 'X-Wild': 'w' } } }],
    },
  });
  for (const scheme of ['https', 'http']) {
    // The guest's own Authorization is replaced; /hash answers digests only.
    const h = await seen(sbx, `-H 'Authorization: mine' ${scheme}://allowed.test/hash`);
    assert.equal(h.digests.authorization, sha(`Bearer ${value}`), `${scheme}: ${JSON.stringify(h)}`);
    assert.equal(h.digests['x-static'], sha('one'));
    assert.equal(h.digests['x-other'], sha('two'));
    const w = await seen(sbx, `${scheme}://a.wild.test/`);
    assert.equal(w.headers['x-wild'], 'w');
    assert.equal(w.headers.authorization, undefined);
  }
  // Kept-alive: every request of a connection gets them; bodies framed by
  // length and chunked pass whole.
  const two = await curl(sbx, `https://allowed.test/hash https://allowed.test/hash`);
  assert.equal(two.code, 0, two.body);
  for (const part of two.body.split('}{').map((p, i, a) => (i ? '{' : '') + p + (i < a.length - 1 ? '}' : '')))
    assert.equal(JSON.parse(part).digests.authorization, sha(`Bearer ${value}`));
  const post = await seen(sbx, `-X POST --data-binary @/etc/services https://b.wild.test/up`);
  const size = (await sbx.commands.run('stat -c %s /etc/services')).stdout.trim();
  assert.equal(String(post.bodyBytes), size);
  assert.equal(post.headers['x-wild'], 'w');
  const chunked = await seen(sbx, `-X POST -H 'Transfer-Encoding: chunked' --data-binary @/etc/services https://b.wild.test/c`);
  assert.equal(String(chunked.bodyBytes), size);
  // Intercepted: the certificate is the egress authority's (the lab's CA
  // alone does not verify it); hosts without rules pass through untouched.
  const strict = await curl(sbx, `--cacert /tmp/lab-ca.pem https://allowed.test/`);
  assert.notEqual(strict.code, 0, 'an intercepted host verified with the lab CA only');
  const info = await sbx.getInfo();
  assert.deepEqual(Object.keys(info.network?.rules ?? {}).sort(), ['*.wild.test', 'allowed.test']);
  assert.ok(!JSON.stringify(info).includes(value), 'getInfo shows no secret value');
});

test('a host without rules passes through with its own certificate; rules grant no access', async () => {
  const sbx = await sandbox({
    allowOut: ['a.wild.test'],
    denyOut: ['0.0.0.0/0'],
    rules: { 'denied.test': [{ transform: { headers: { 'X-A': '1' } } }] },
  });
  const plain = await seen(sbx, `--cacert /tmp/lab-ca.pem https://a.wild.test/`);
  assert.equal(plain.sni, 'a.wild.test');
  const denied = await curl(sbx, `https://denied.test/`);
  assert.notEqual(denied.code, 0, `denied.test was reached: ${denied.body}`);
});

test('rules through the user\'s SOCKS5 proxy (egressProxy): dialled by name there, headers set', async () => {
  const value = await secret('via-socks');
  const sbx = await sandbox({
    ...lockedDown,
    egressProxy: { address: process.env.SOCKS_ADDR, username: 'tester', password: 's3cret' },
    rules: { 'allowed.test': [{ transform: { headers: { 'X-K': '${e2b.secrets.via-socks}' } } }] },
  });
  for (const scheme of ['https', 'http']) {
    const h = await seen(sbx, `${scheme}://allowed.test/hash`);
    assert.equal(h.digests['x-k'], sha(value), `${scheme}: ${JSON.stringify(h)}`);
  }
  const log = readFileSync(process.env.SOCKS_LOG, 'utf8');
  assert.match(log, /CONNECT allowed\.test:443 user=tester/);
  assert.match(log, /CONNECT allowed\.test:80 user=tester/);
});

test('a request naming another Host than the one it was allowed for is refused (421)', async () => {
  await secret('echo-key-2');
  const sbx = await sandbox({ ...lockedDown, rules: { 'allowed.test': [{ transform: { headers: { 'X-K': '${e2b.secrets.echo-key-2}' } } }] } });
  const r = await curl(sbx, `-o /dev/null -w '%{http_code}' -H 'Host: denied.test' https://allowed.test/`);
  assert.equal(r.body, '421');
});

test('updateNetwork replaces the rules; Secret.update and destroy apply to new connections', async () => {
  const first = await secret('rotating');
  const sbx = await sandbox({ ...lockedDown, rules: { 'allowed.test': [{ transform: { headers: { 'X-K': '${e2b.secrets.rotating}' } } }] } });
  assert.equal((await seen(sbx, 'https://allowed.test/hash')).digests['x-k'], sha(first));
  const second = `sk-${randomBytes(8).toString('hex')}`;
  await Secret.update('rotating', second);
  assert.equal((await seen(sbx, 'https://allowed.test/hash')).digests['x-k'], sha(second));
  await sbx.updateNetwork({ ...lockedDown, rules: { 'a.wild.test': [{ transform: { headers: { 'X-New': 'n' } } }] } });
  // allowed.test has no rule now: passed through, the lab's own certificate.
  assert.equal((await seen(sbx, '--cacert /tmp/lab-ca.pem https://allowed.test/')).headers['x-k'], undefined);
  assert.equal((await seen(sbx, 'https://a.wild.test/')).headers['x-new'], 'n');
  await sbx.updateNetwork({ ...lockedDown, rules: { 'allowed.test': [{ transform: { headers: { 'X-K': '${e2b.secrets.rotating}' } } }] } });
  await Secret.destroy('rotating');
  const gone = await curl(sbx, `-w ' %{http_code}' https://allowed.test/`);
  assert.match(gone.body, /secret 'rotating'.* 502$/s);
});

test('bad rules are a 400 naming the field', async () => {
  const bad = [
    [{ '*': [{ transform: { headers: { A: 'b' } } }] }, /bare '\*'/],
    [{ 'allowed.test': [{ transform: { headers: { Host: 'x' } } }] }, /Host cannot be set/],
    [{ 'allowed.test': [{ transform: { headers: { A: 'x\r\nB: y' } } }] }, /control bytes/],
    [{ 'allowed.test': [{ transform: { headers: { A: '${e2b.secrets.no-such-secret}' } } }] }, /no-such-secret/],
    [{ 'allowed.test': [{ transform: { headers: { A: '${e2b.identity.tokens.x}' } } }] }, /unknown placeholder/],
    [{ 'bad..name': [] }, /bad\.\.name/],
    [Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`h${i}.test`, []])), /more than 256 hosts/],
  ];
  for (const [rules, re] of bad) {
    await assert.rejects(Sandbox.create('base', { network: { rules } }), (e) => {
      assert.match(e.message, /network\.rules/);
      assert.match(e.message, re);
      return true;
    });
  }
});
