// Load through the official E2B SDK against a real coved
// (tests/integration/coved_load.sh starts it): COVE_LOAD_SANDBOXES creates at
// once, then COVE_LOAD_STREAMS command streams at once spread over them, each
// open for a second of the guest's time; then every sandbox is killed. Prints
// TAP, one line a check.
import { createRequire } from 'node:module';

const { Sandbox } = createRequire(`${process.env.COVE_NODE_DIR}/`)('e2b');
const nSandboxes = Number(process.env.COVE_LOAD_SANDBOXES ?? 50);
const nStreams = Number(process.env.COVE_LOAD_STREAMS ?? 200);
const template = process.env.COVE_LOAD_TEMPLATE ?? 'base';
let n = 0;
let failed = false;
const check = (name, ok, detail = '') => {
  n++;
  if (!ok) failed = true;
  console.log(`${ok ? 'ok' : 'not ok'} ${n} - ${name}`);
  if (!ok && detail) for (const l of String(detail).split('\n').slice(0, 20)) console.log(`# ${l}`);
};

// 50 cold boots under TCG on 2 cores take about a minute (coved boots a few
// at a time and queues the rest), past the SDK's default request timeout.
const t0 = Date.now();
const created = await Promise.allSettled(
  Array.from({ length: nSandboxes }, (_, i) =>
    Sandbox.create(template, { metadata: { load: 'yes', i: String(i) }, timeoutMs: 600_000, requestTimeoutMs: 600_000 })),
);
const sandboxes = created.filter((r) => r.status === 'fulfilled').map((r) => r.value);
const errors = created.filter((r) => r.status === 'rejected').map((r) => r.reason?.message ?? String(r.reason));
const createSecs = (Date.now() - t0) / 1000;
check(`${nSandboxes} concurrent creates all succeed (${createSecs.toFixed(1)} s)`, sandboxes.length === nSandboxes,
  errors.join('\n'));
check('every sandbox has its own id', new Set(sandboxes.map((s) => s.sandboxId)).size === sandboxes.length);

const listed = [];
for (const pager = Sandbox.list({ query: { metadata: { load: 'yes' } }, limit: 20 }); pager.hasNext;) {
  listed.push(...await pager.nextItems());
}
check('list pages through all of them', listed.length === sandboxes.length, `listed ${listed.length}`);

if (sandboxes.length) {
  const t1 = Date.now();
  const runs = await Promise.allSettled(
    Array.from({ length: nStreams }, (_, i) =>
      sandboxes[i % sandboxes.length].commands.run(`sleep 1; echo $((${i} * ${i}))`, { timeoutMs: 300_000 })),
  );
  const bad = runs
    .map((r, i) => (r.status === 'fulfilled'
      ? (r.value.exitCode === 0 && r.value.stdout.trim() === String(i * i) ? null : `${i}: ${JSON.stringify(r.value)}`)
      : `${i}: ${r.reason?.message ?? r.reason}`))
    .filter(Boolean);
  check(`${nStreams} concurrent command streams complete with the right output (${((Date.now() - t1) / 1000).toFixed(1)} s)`,
    bad.length === 0, bad.join('\n'));
  // What the guests that failed said (console and VMM log), before they go.
  const failedIds = new Set(runs.flatMap((r, i) => (r.status === 'fulfilled' && r.value.exitCode === 0 ? [] : [sandboxes[i % sandboxes.length].sandboxId])));
  for (const id of failedIds) {
    try {
      const r = await fetch(`${process.env.E2B_API_URL}/sandboxes/${id}/logs?limit=30`, { headers: { 'X-API-KEY': process.env.E2B_API_KEY } });
      const body = await r.json();
      console.log(`# logs of ${id} (HTTP ${r.status}):`);
      for (const l of body.logs ?? []) console.log(`#   ${l.line}`);
    } catch (e) {
      console.log(`# logs of ${id}: ${e}`);
    }
  }
}

const killed = await Promise.allSettled(sandboxes.map((s) => s.kill()));
check('all are killed', killed.every((r) => r.status === 'fulfilled' && r.value !== false),
  killed.filter((r) => r.status === 'rejected').map((r) => r.reason?.message).join('\n'));
const left = await Sandbox.list({ query: { metadata: { load: 'yes' } } }).nextItems();
check('none is left', left.length === 0, `left ${left.length}`);
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
