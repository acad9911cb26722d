// make bench, part 3: coved driven by the official E2B SDK (E2B_API_URL,
// E2B_SANDBOX_URL and E2B_API_KEY name a coved started by bench/run.sh):
//   create-to-first-command latency, sequential and 20 at once
//     beside the same guest booted by `cove run` (no daemon, no API) in the
//     same run;
//   the envd proxy's added latency per call: commands.run('true') through
//     coved beside the same call straight to the sandbox's agent (published
//     with `cove port-forward`);
//   pause to disk and resume of a sandbox with 64 MiB dirtied, beside the
//     first request relayed to it when paused with autoResume (the resume
//     that request makes; goal: within the resume + 20 ms); a snapshot of
//     it (how long it is paused) and creates from that snapshot beside
//     creates by the template's restore; and a fork of 10 children;
//   coved's own memory (RSS) and CPU with 100 idle sandboxes (tiny), beside
//     the same with none, and what the 100 idle VMMs cost the host (CPU,
//     and PSS each).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { liner, stats } from './stats.mjs';

const build = process.env.COVE_BUILD;
const { Sandbox } = createRequire(`${process.env.COVE_NODE_DIR ?? `${build}/node`}/`)('e2b');
const RUNS = Number(process.env.BENCH_RUNS_COVED ?? 10);
const CONCURRENT = Number(process.env.BENCH_CONCURRENT ?? 20);
const TEMPLATE = process.env.BENCH_TEMPLATE ?? 'base';

const line = liner(34, 1);

async function createAndRun() {
  const t = performance.now();
  const sbx = await Sandbox.create(TEMPLATE);
  await sbx.commands.run('true');
  const ms = performance.now() - t;
  return { sbx, ms };
}

console.log(`coved with the E2B SDK, template ${TEMPLATE}`);
const viaCoved = [], viaRun = [];
for (let i = 0; i < RUNS; i++) {
  const { sbx, ms } = await createAndRun();
  viaCoved.push(ms);
  await sbx.kill();
  const t = performance.now();
  const r = spawnSync(`${build}/bin/cove`, ['run', '--local', '--template', TEMPLATE, '--', 'true']);
  if (r.status !== 0) throw new Error(`cove run failed: ${r.stderr}`);
  viaRun.push(performance.now() - t);
}
line('create + first command (coved)', viaCoved);
line('reference: cove run -- true', viaRun);

const t0 = performance.now();
const all = await Promise.all(Array.from({ length: CONCURRENT }, () => createAndRun()));
const wall = performance.now() - t0;
line(`${CONCURRENT} at once: each`, all.map((x) => x.ms));
console.log(`${CONCURRENT} at once: ${(CONCURRENT / (wall / 1000)).toFixed(2)} creates/s (${wall.toFixed(0)} ms for all)`);
await Promise.all(all.slice(1).map((x) => x.sbx.kill()));

// The proxy's cost: the same call, through coved and straight to the agent.
const sbx = all[0].sbx;
const pf = spawn(`${build}/bin/cove`, ['port-forward', sbx.sandboxId, '0:49983'], { stdio: ['ignore', 'ignore', 'pipe'] });
const port = await new Promise((resolve, reject) => {
  pf.once('exit', (code) => reject(new Error(`cove port-forward exited with ${code}`)));
  pf.stderr.on('data', (d) => {
    const m = /forwarding=127\.0\.0\.1:(\d+)/.exec(String(d));
    if (m) resolve(m[1]);
  });
});
const direct = new Sandbox({
  sandboxId: sbx.sandboxId,
  sandboxUrl: `http://127.0.0.1:${port}`,
  debug: true,
  apiKey: 'unused',
  envdVersion: '0.6.4',
  envdAccessToken: sbx.envdAccessToken,
});
const proxied = [], straight = [];
for (let i = 0; i < 3 * RUNS; i++) {
  let t = performance.now();
  await sbx.commands.run('true');
  proxied.push(performance.now() - t);
  t = performance.now();
  await direct.commands.run('true');
  straight.push(performance.now() - t);
}
const p = line("run('true') through coved", proxied);
const d = line("run('true') straight to the agent", straight);
console.log(`  the proxy adds ${(p - d).toFixed(1)} ms per call (medians)`);
pf.kill();
await sbx.kill();

// Pause to disk and resume of a base sandbox (512 MiB) that has dirtied
// 64 MiB (a tmpfs file), and the first command after the resume; then a fork
// of 10 children of it. Each pause saves the guest's RAM, device state and
// disk; each resume restores them in a new VMM. Interleaved with the resumes
// by connect: the same pause, then envd's /health relayed by coved with the
// sandbox's token, which resumes it (autoResume) before it is relayed. The
// pause is the one an auto-pause at the deadline makes (the same save); by
// hand, so that it is whole when the request comes.
{
  const api = process.env.E2B_API_URL;
  const key = process.env.E2B_API_KEY;
  const sbx = await Sandbox.create('base', { timeoutMs: 600_000, lifecycle: { onTimeout: 'pause', autoResume: true } });
  await sbx.commands.run('mkdir -p /run/dirty && mount -t tmpfs -o size=80m none /run/dirty && ' +
    'dd if=/dev/urandom of=/run/dirty/x bs=1M count=64 2>/dev/null', { timeoutMs: 600_000, user: 'root' });
  const pauses = [], resumes = [], firsts = [], woken = [];
  const health = () => fetch(`${process.env.E2B_SANDBOX_URL}/health`, {
    headers: { 'E2b-Sandbox-Id': sbx.sandboxId, 'X-Access-Token': sbx.envdAccessToken },
  });
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now();
    await sbx.pause();
    pauses.push(performance.now() - t);
    t = performance.now();
    const back = await Sandbox.connect(sbx.sandboxId);
    resumes.push(performance.now() - t);
    await back.commands.run('true');
    firsts.push(performance.now() - t);
    await sbx.pause();
    t = performance.now();
    const r = await health();
    woken.push(performance.now() - t);
    if (r.status !== 204) throw new Error(`auto-resume: /health answered ${r.status}: ${await r.text()}`);
  }
  line('pause to disk (64 MiB dirtied)', pauses);
  const resumed = line('resume (connect)', resumes);
  line('resume + first command', firsts);
  const auto = line('auto-resume: first relayed request', woken);
  console.log(`  auto-resume + relay - connect: ${(auto - resumed).toFixed(1)} ms (medians; goal <= 20 ms)`);
  // Snapshots of the same sandbox: how long it stood still (coved logs it:
  // pause_ms, the save and the resume) beside the pause to disk above, and
  // the whole call (the copy made durable after the sandbox runs on). Each
  // is its VMM's first save, as each pause above is (a first save reads in
  // the RAM pages the VMM never touched: ~60 ms here), so an untimed pause
  // and resume follow each. Then creates from a snapshot beside creates by
  // the template's restore, interleaved.
  const logText = () => (process.env.COVED_LOG ? readFileSync(process.env.COVED_LOG, 'utf8') : '');
  const snapPauses = [], snapCalls = [], fromSnap = [], fromSnapFirst = [], byRestore = [], byRestoreFirst = [];
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now();
    const snap = await sbx.createSnapshot();
    snapCalls.push(performance.now() - t);
    const m = new RegExp(`op=snapshot snapshot=\\S+ id=${snap.snapshotId} pause_ms=(\\d+)`).exec(logText());
    if (m) snapPauses.push(Number(m[1]));
    await sbx.pause();
    await Sandbox.connect(sbx.sandboxId);
    t = performance.now();
    const child = await Sandbox.create(snap.snapshotId);
    fromSnap.push(performance.now() - t);
    await child.commands.run('true');
    fromSnapFirst.push(performance.now() - t);
    await child.kill();
    t = performance.now();
    const fresh = await Sandbox.create('base');
    byRestore.push(performance.now() - t);
    await fresh.commands.run('true');
    byRestoreFirst.push(performance.now() - t);
    await fresh.kill();
    await Sandbox.deleteSnapshot(snap.snapshotId);
  }
  if (snapPauses.length) line('snapshot: the sandbox paused', snapPauses);
  else console.log('snapshot: the sandbox paused: not measured (COVED_LOG unset)');
  line('snapshot: the whole call', snapCalls);
  line('create from the snapshot', fromSnap);
  line('create by template restore', byRestore);
  line('from snapshot + first command', fromSnapFirst);
  line('by restore + first command', byRestoreFirst);
  const forks = [];
  for (let i = 0; i < Math.max(3, RUNS / 3); i++) {
    const t = performance.now();
    const r = await fetch(`${api}/sandboxes/${sbx.sandboxId}/fork`, {
      method: 'POST', headers: { 'X-API-KEY': key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ count: 10, timeout: 120 }),
    });
    const body = await r.json();
    forks.push(performance.now() - t);
    if (r.status !== 201) throw new Error(`fork: ${r.status} ${JSON.stringify(body)}`);
    await Promise.all(body.map((c) => (c.sandbox ? Sandbox.kill(c.sandbox.sandboxID) : null)));
    if (body.some((c) => c.error)) throw new Error(`fork: ${JSON.stringify(body)}`);
  }
  line('fork of 10 children (all answering)', forks);
  await sbx.kill();
}

// coved itself with many idle sandboxes: its RSS and CPU over a quiet window
// (the metrics sampler and the reaper are all that run), with none and with
// IDLE of them.
const IDLE = Number(process.env.BENCH_IDLE ?? 100);
const WINDOW_MS = Number(process.env.BENCH_IDLE_WINDOW_MS ?? 20000);
const covedPid = process.env.COVED_PID;
const ticks = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100/s)
};
const rssMiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const qemuTicks = () => {
  let sum = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').startsWith('qemu-system')) sum += ticks(d);
    } catch { /* gone meanwhile */ }
  }
  return sum;
};
const quiet = async () => {
  const c0 = ticks(covedPid), q0 = qemuTicks(), t0 = performance.now();
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  const secs = (performance.now() - t0) / 1000;
  return { rss: rssMiB(covedPid), cpu: (ticks(covedPid) - c0) / secs, vmms: (qemuTicks() - q0) / secs };
};
if (covedPid) {
  const none = await quiet();
  const t1 = performance.now();
  const idle = [];
  for (let i = 0; i < IDLE; i += 10) {
    idle.push(...await Promise.all(Array.from({ length: Math.min(10, IDLE - i) }, () =>
      Sandbox.create('tiny', { metadata: { bench: 'idle' }, timeoutMs: 3_600_000, requestTimeoutMs: 600_000 }))));
  }
  console.log(`${IDLE} tiny sandboxes made in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
  const busy = await quiet();
  console.log(`coved with 0 sandboxes:    RSS ${none.rss.toFixed(1)} MiB, CPU ${none.cpu.toFixed(2)}% of a core`);
  console.log(`coved with ${IDLE} idle:        RSS ${busy.rss.toFixed(1)} MiB, CPU ${busy.cpu.toFixed(2)}% of a core ` +
    `(${((busy.rss - none.rss) * 1024 / IDLE).toFixed(0)} KiB per sandbox)`);
  console.log(`  the ${IDLE} idle VMMs themselves: ${busy.vmms.toFixed(1)}% of a core together, ` +
    `${(busy.vmms / IDLE).toFixed(2)}% each (TCG)`);
  // Memory per idle sandbox on the host: the PSS of each VMM (pages shared
  // with others, such as the template's memory file, counted in part).
  const pss = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!readFileSync(`/proc/${d}/comm`, 'utf8').startsWith('qemu-system')) continue;
      pss.push(Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${d}/smaps_rollup`, 'utf8'))[1]) / 1024);
    } catch { /* gone meanwhile */ }
  }
  const ps = stats(pss);
  console.log(`  PSS per idle VMM with ${pss.length} alive: median ${ps.median.toFixed(1)} MiB, max ${ps.max.toFixed(1)} MiB`);
  await Promise.all(idle.map((s) => s.kill()));
}
