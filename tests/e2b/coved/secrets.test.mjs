// Secrets through the official E2B JS SDK against a real coved
// (tests/integration/e2b_coved.sh starts it): Secret.create, getInfo and
// exists by id and by name, update (the next version), list a page at a
// time, destroy (true, then false), a name taken (409) and names refused
// (400, naming the field). And what Cove promises: no reply carries a
// value, the value is nowhere in coved's state directory (its database is
// there, the value sealed under the key file), and secrets outlive a coved
// killed with SIGKILL (COVE_RESTART_COVED), under the same key.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

const { Secret, SecretError, SecretNotFoundError } = createRequire(`${process.env.COVE_NODE_DIR}/`)('e2b');
// e2b_coved.sh looks for this prefix in coved's logs afterwards.
const VALUE = `cove-test-secret-${randomBytes(12).toString('hex')}`;
const OTHER = `cove-test-secret-${randomBytes(12).toString('hex')}`;
const stateDir = process.env.COVE_STATE_DIR;

after(async () => {
  for (const s of await all()) await Secret.destroy(s.secretId).catch(() => {});
});

async function all() {
  const out = [];
  const pages = Secret.list({ limit: 100 });
  while (pages.hasNext) out.push(...(await pages.nextItems()));
  return out;
}

// The raw reply of a control-plane request, for what the SDK does not show.
async function raw(method, path, body) {
  const res = await fetch(`${process.env.E2B_API_URL}${path}`, {
    method,
    headers: { 'X-API-KEY': process.env.E2B_API_KEY, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

function refusedWith(status, field) {
  return (e) => {
    assert.ok(e instanceof SecretError, `${e}`);
    assert.match(e.message, new RegExp(`^${status}: ${field ?? ''}`));
    return true;
  };
}

test('create: an id, the name lower-cased, version 1, metadata and times', async () => {
  const before = Date.now();
  const info = await Secret.create('Cove-Test-Key', VALUE, { metadata: { team: 'ml', env: 'ci' } });
  assert.match(info.secretId, /^sec_[0-9a-f]{32}$/);
  assert.equal(info.name, 'cove-test-key');
  assert.equal(info.version, 1);
  assert.deepEqual(info.metadata, { team: 'ml', env: 'ci' });
  assert.ok(info.createdAt.getTime() >= before - 1000 && info.createdAt.getTime() <= Date.now() + 1000);
  assert.equal(info.updatedAt.getTime(), info.createdAt.getTime());
  const plain = await Secret.create('cove-test-plain', VALUE);
  assert.deepEqual(plain.metadata, {}); // always present
});

test('getInfo and exists: by id and by name, in any case', async () => {
  const byName = await Secret.getInfo('cove-test-key');
  const byId = await Secret.getInfo(byName.secretId);
  const upper = await Secret.getInfo('COVE-TEST-KEY');
  assert.deepEqual(byId, byName);
  assert.deepEqual(upper, byName);
  assert.equal(await Secret.exists('cove-test-key'), true);
  assert.equal(await Secret.exists(byName.secretId), true);
  assert.equal(await Secret.exists('cove-test-nothing'), false);
  assert.equal(await Secret.exists('sec_00000000000000000000000000000000'), false);
  await assert.rejects(Secret.getInfo('cove-test-nothing'), SecretNotFoundError);
});

test('update: the next version, metadata kept unless given', async () => {
  const first = await Secret.getInfo('cove-test-key');
  const second = await Secret.update('cove-test-key', OTHER);
  assert.equal(second.version, 2);
  assert.equal(second.secretId, first.secretId);
  assert.deepEqual(second.metadata, { team: 'ml', env: 'ci' });
  assert.equal(second.createdAt.getTime(), first.createdAt.getTime());
  assert.ok(second.updatedAt.getTime() >= first.updatedAt.getTime());
  const third = await Secret.update(first.secretId, VALUE, { metadata: { team: 'infra' } });
  assert.equal(third.version, 3);
  assert.deepEqual(third.metadata, { team: 'infra' });
  assert.equal((await Secret.getInfo('cove-test-key')).version, 3);
  await assert.rejects(Secret.update('cove-test-nothing', VALUE), SecretNotFoundError);
});

test('list: 5 secrets in pages of 2, newest first, then no more', async () => {
  for (const s of await all()) await Secret.destroy(s.secretId);
  const names = [];
  for (let i = 0; i < 5; i++) names.push((await Secret.create(`cove-test-page-${i}`, VALUE)).name);
  const pages = Secret.list({ limit: 2 });
  const sizes = [];
  const seen = [];
  while (pages.hasNext) {
    const items = await pages.nextItems();
    sizes.push(items.length);
    seen.push(...items.map((s) => s.name));
    for (const s of items) assert.equal(s.version, 1);
  }
  assert.deepEqual(sizes, [2, 2, 1]);
  assert.deepEqual(seen, names.reverse());
  const first = await raw('GET', '/secrets?limit=2');
  assert.equal(first.status, 200);
  assert.ok(first.headers.get('x-next-token'));
  const last = await raw('GET', '/secrets?limit=5');
  assert.equal(JSON.parse(last.text).length, 5);
  assert.equal(last.headers.get('x-next-token'), null);
  assert.equal((await raw('GET', '/secrets?limit=0')).status, 400);
  assert.equal((await raw('GET', '/secrets?nextToken=nonsense')).status, 400);
});

test('destroy: true, then false; gone by id and by name', async () => {
  const made = await Secret.create('cove-test-gone', VALUE);
  assert.equal(await Secret.destroy('COVE-TEST-GONE'), true);
  assert.equal(await Secret.destroy('cove-test-gone'), false);
  assert.equal(await Secret.destroy(made.secretId), false);
  assert.equal(await Secret.exists(made.secretId), false);
  await assert.rejects(Secret.getInfo(made.secretId), SecretNotFoundError);
  // The name is free again.
  assert.equal((await Secret.create('cove-test-gone', VALUE)).version, 1);
});

test('a name taken, in any case: 409', async () => {
  await Secret.create('cove-test-twice', VALUE);
  await assert.rejects(Secret.create('cove-test-twice', OTHER), refusedWith(409));
  await assert.rejects(Secret.create('Cove-Test-TWICE', OTHER), refusedWith(409));
});

test('names, values and metadata outside the rules: 400 naming the field', async () => {
  const badNames = ['', 'a{b', 'a}b', '${e2b.secrets.x}', 'a\u0001b', 'a\u0085b', 'sec_abc', 'SEC_abc', 'a/b', 'x'.repeat(128)];
  for (const name of badNames) await assert.rejects(Secret.create(name, VALUE), refusedWith(400, 'name'), name);
  await assert.rejects(Secret.create('cove-test-empty', ''), refusedWith(400, 'value'));
  const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v']));
  await assert.rejects(Secret.create('cove-test-meta', VALUE, { metadata: many }), refusedWith(400, 'metadata'));
  await assert.rejects(
    Secret.create('cove-test-meta', VALUE, { metadata: { k: 'v'.repeat(1025) } }),
    refusedWith(400, 'metadata'),
  );
  const nonString = await raw('POST', '/secrets', { name: 'cove-test-meta', value: VALUE, metadata: { n: 1 } });
  assert.equal(nonString.status, 400);
  assert.match(JSON.parse(nonString.text).message, /^metadata\.n/);
  await assert.rejects(Secret.update('cove-test-key', ''), refusedWith(400, 'value'));
  assert.equal(await Secret.exists('cove-test-meta'), false);
  assert.equal(await Secret.exists('cove-test-empty'), false);
});

test('no reply carries the value', async () => {
  const replies = [
    await raw('POST', '/secrets', { name: 'cove-test-raw', value: VALUE, metadata: { a: 'b' } }),
    await raw('POST', '/secrets', { name: 'cove-test-raw', value: VALUE }), // 409
    await raw('POST', '/secrets', { name: 'sec_raw', value: VALUE }), // 400
    await raw('POST', '/secrets/cove-test-raw', { value: OTHER }),
    await raw('GET', '/secrets/cove-test-raw'),
    await raw('GET', '/secrets'),
  ];
  assert.deepEqual(replies.map((r) => r.status), [201, 409, 400, 200, 200, 200]);
  for (const r of replies) {
    assert.ok(!r.text.includes(VALUE), r.text);
    assert.ok(!r.text.includes(OTHER), r.text);
  }
  const secret = JSON.parse(replies[0].text);
  assert.deepEqual(Object.keys(secret).sort(), ['createdAt', 'currentVersion', 'metadata', 'name', 'secretID', 'updatedAt']);
  const broken = await raw('POST', '/secrets', undefined);
  assert.equal(broken.status, 400);
  const syntax = await fetch(`${process.env.E2B_API_URL}/secrets`, {
    method: 'POST',
    headers: { 'X-API-KEY': process.env.E2B_API_KEY },
    body: `{"name":"cove-test-syntax","value":"${VALUE}\u0001"}`,
  });
  assert.equal(syntax.status, 400);
  assert.ok(!(await syntax.text()).includes(VALUE));
});

test('the value is nowhere in the state directory; the key file is 0600', { skip: !stateDir && 'COVE_STATE_DIR is unset' }, () => {
  assert.ok(statSync(`${stateDir}/cove.db`).size > 0);
  // grep exits 1 when nothing matches: -a reads the database as text.
  // Volumes are users' files (16 GiB sparse images each, read whole by
  // grep): not where coved keeps anything.
  for (const v of [VALUE, OTHER]) {
    let found = '';
    try {
      found = execFileSync('grep', ['-rlaF', '--exclude-dir=volumes', v, stateDir], { encoding: 'utf8' });
    } catch (e) {
      assert.equal(e.status, 1, `grep failed: ${e.stderr}`);
    }
    assert.equal(found, '', `the value is in ${found}`);
  }
  const key = statSync(`${stateDir}/secrets.key`);
  assert.equal(key.mode & 0o777, 0o600);
  assert.equal(key.size, 32);
});

test('after coved is SIGKILLed and restarted: the secrets are kept, under the same key', { skip: !process.env.COVE_RESTART_COVED && 'COVE_RESTART_COVED is unset (tests/integration/e2b_coved.sh sets it)' }, async () => {
  const kept = await Secret.create('cove-test-restart', VALUE, { metadata: { kept: 'yes' } });
  const updated = await Secret.update('cove-test-restart', OTHER);
  const key = readFileSync(`${stateDir}/secrets.key`);
  const url = execFileSync('bash', ['-c', process.env.COVE_RESTART_COVED], { encoding: 'utf8' }).trim();
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  process.env.E2B_API_URL = url;
  process.env.E2B_SANDBOX_URL = url;
  const again = await Secret.getInfo(kept.secretId);
  assert.equal(again.name, 'cove-test-restart');
  assert.equal(again.version, 2);
  assert.deepEqual(again.metadata, { kept: 'yes' });
  assert.equal(again.updatedAt.getTime(), updated.updatedAt.getTime());
  assert.ok((await all()).some((s) => s.secretId === kept.secretId));
  assert.deepEqual(readFileSync(`${stateDir}/secrets.key`), key);
  assert.equal((await Secret.update(kept.secretId, VALUE)).version, 3);
});
