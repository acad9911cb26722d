// Templates from container images through the SDK's fromImage, against
// loopback registries of the test's own (tests/integration/build.sh pushes
// a busybox image to both, one asking for a login): the image's env and
// working directory, E2B's `user` made for the steps, credentials, and the
// errors a user meets (a wrong password, an image that is not there).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const { Template, Sandbox, BuildError, waitForPort } = createRequire(`${process.env.COVE_NODE_DIR}/`)('e2b');
const open = process.env.COVE_TEST_REGISTRY;
const locked = process.env.COVE_TEST_LOCKED_REGISTRY;
const made = [];
const templates = new Set();

after(async () => {
  for (const id of made) await Sandbox.kill(id).catch(() => {});
  for (const name of templates)
    await fetch(`${process.env.E2B_API_URL}/templates/${name}`, { method: 'DELETE', headers: { 'X-API-KEY': process.env.E2B_API_KEY } });
});

async function run(sbx, cmd) {
  return (await sbx.commands.run(cmd)).stdout.trim();
}

test('fromImage: a busybox image with steps, a service, and E2B\'s user', async () => {
  templates.add('fromimage');
  const t = Template()
    .fromImage(`${open}/bb:1`)
    .runCmd('echo "$IMAGE_VAR" > /tmp/seen; id -un >> /tmp/seen')
    .runCmd('mkdir -p /srv/www && echo served > /srv/www/index.html', { user: 'root' })
    .setStartCmd('httpd -f -p 8080 -h /srv/www', waitForPort(8080));
  await Template.build(t, 'fromimage');
  const sbx = await Sandbox.create('fromimage', { timeoutMs: 120_000 });
  made.push(sbx.sandboxId);
  // No bash in the image: the SDK's /bin/bash -l -c runs with /bin/sh.
  assert.equal(await run(sbx, 'cat /tmp/seen; whoami; pwd; echo $IMAGE_VAR'), 'from-image\nuser\nuser\n/home/user\nfrom-image');
  assert.equal(await run(sbx, 'wget -q -O - http://127.0.0.1:8080/index.html'), 'served');
});

test('fromImage with a registry login, and a wrong password refused plainly', async () => {
  templates.add('locked');
  await Template.build(Template().fromImage(`${locked}/bb:1`, { username: 'tester', password: 's3cret' }).runCmd('true'), 'locked');
  assert.ok(await Template.exists('locked'));
  templates.add('refused');
  await assert.rejects(
    Template.build(Template().fromImage(`${locked}/bb:1`, { username: 'tester', password: 'wrong' }).runCmd('true'), 'refused'),
    (e) => e instanceof BuildError && /credentials/.test(e.message),
  );
  await assert.rejects(Template.build(Template().fromImage(`${open}/nothing:1`).runCmd('true'), 'refused'),
    (e) => e instanceof BuildError && /no such image|not found|manifest unknown/i.test(e.message));
  assert.equal(await Template.exists('refused'), false);
});
