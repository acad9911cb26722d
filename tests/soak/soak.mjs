// The soak (issue 19; `make soak`, and a short one in make check through
// tests/integration/soak.sh, which prepares its world): SOAK_CYCLES cycles
// of randomly mixed operations on a real coved through the official E2B SDK
// and the `cove` CLI, with faults injected at random points (ops.mjs), and
// after every cycle the invariants of invariants.mjs. The same SOAK_SEED
// gives the same choices. Prints counts; on the first violation, the
// violation and the operations that led to it, and exits 1.
//
// Environment (soak.sh sets the paths): COVE_BUILD, SOAK_BASE (a directory
// of its own), SOAK_STATE_DIR (coved's state, on a small file system of the
// soak's own), COVE_RUN_DIR, COVE_LOG_DIR, COVE_NET_NAME, COVE_NET_DIR;
// SOAK_CYCLES (default 5), SOAK_SEED (default: random), SOAK_MAX_SECONDS
// (stop starting cycles after this; default none), SOAK_TEMPLATE (default
// tiny), SOAK_OPS (operations per cycle, default 6), SOAK_FAULTS (kinds to
// inject, comma-separated; default all), SOAK_FAULT_RATE (extra faults per
// cycle on top of each kind once, default 0.5).
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Coved, OpLog, rng, freePort, tail, sleep } from './world.mjs';
import { checkKernel } from './invariants.mjs';
import { Soak, FAULTS } from './ops.mjs';

const env = process.env;
const need = (k) => env[k] || (console.error(`soak: ${k} is not set`), process.exit(2));
const build = need('COVE_BUILD');
const base = need('SOAK_BASE');
const stateDir = need('SOAK_STATE_DIR');
const cycles = Number(env.SOAK_CYCLES || 5);
const seed = Number(env.SOAK_SEED || Math.floor(Math.random() * 2 ** 31));
const maxSeconds = Number(env.SOAK_MAX_SECONDS || 0);
const faultKinds = (env.SOAK_FAULTS || FAULTS.join(',')).split(',').filter(Boolean);
for (const f of faultKinds) if (!FAULTS.includes(f)) { console.error(`soak: no fault kind ${f} (${FAULTS})`); process.exit(2); }

const { Sandbox } = createRequire(`${env.COVE_NODE_DIR || `${build}/node`}/`)('e2b');
const key = `e2b_${[...crypto.getRandomValues(new Uint8Array(20))].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
const port = await freePort();
const coved = new Coved({
  bin: `${build}/bin/coved`, stateDir, port, key, log: `${base}/coved.log`, pidFile: `${base}/coved.pid`,
  flags: ['--max-sandboxes', '12'],
});
Object.assign(env, { E2B_API_URL: coved.url, E2B_SANDBOX_URL: coved.url, E2B_API_KEY: key,
                     COVE_URL: coved.url, COVE_API_KEY: key });
delete env.E2B_DEBUG;

const r = rng(seed);
const opLog = new OpLog(20, `${base}/ops.log`);
const soak = new Soak({
  Sandbox, coved, r, opLog, build, base, stateDir,
  template: env.SOAK_TEMPLATE || 'tiny', opsPerCycle: Number(env.SOAK_OPS || 6),
});
const ctx = {
  db: `${stateDir}/cove.db`, runDir: need('COVE_RUN_DIR'), logDir: need('COVE_LOG_DIR'), stateDir,
  netName: need('COVE_NET_NAME'), netDir: need('COVE_NET_DIR'), everSeen: soak.everSeen,
};
// The clock is put back on every way out (soak.sh's trap covers SIGKILL).
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'])
  process.on(sig, () => { soak.restoreClockSync(); process.exit(130); });
process.on('exit', () => soak.restoreClockSync());
process.on('uncaughtException', (e) => { console.error(`soak: ${e.stack}`); soak.restoreClockSync(); process.exit(2); });

// The plan: each fault kind once in the first cycles (so a short soak has
// them all), then SOAK_FAULT_RATE more per cycle, at random.
function plan() {
  const p = Array.from({ length: cycles }, () => []);
  r.shuffle(faultKinds).forEach((f, i) => p[i % Math.max(cycles, 1)].push(f));
  const rate = Number(env.SOAK_FAULT_RATE ?? 0.5);
  for (let c = 0; c < cycles; c++) if (faultKinds.length && r.chance(rate)) p[c].push(r.pick(faultKinds));
  return p;
}

function report(status) {
  const s = soak.stats;
  const line = (o) => Object.entries(o).sort().map(([k, v]) => `${k}=${v}`).join(' ') || '-';
  const secs = ((performance.now() - started) / 1000).toFixed(0);
  console.log(`soak: seed=${seed} cycles=${s.cycles}/${cycles} ops=${s.ops} faults=${s.faultCount} violations=${s.violations.length} wall_s=${secs} status=${status}`);
  console.log(`soak: ops ok: ${line(s.ok)}`);
  console.log(`soak: ops refused or failed (expected under faults): ${line(s.failed)}`);
  console.log(`soak: faults: ${line(s.faults)}`);
  for (const [k, n] of Object.entries(s.findings)) console.log(`soak: finding (${n} times): ${k}`);
  console.log(`soak: sandboxes made=${soak.everSeen.size} most at once=${s.most} ended by timeout=${s.expired} lost to a VMM kill=${s.vmmKilled}`);
  console.log(`soak: checks: invariant rounds=${s.checks} sandboxes answered=${s.answered} paused resumed with their files=${s.markersOk}`);
  if (s.unexpected.length) console.log(`soak: failures outside faults (${s.unexpected.length}):\n${s.unexpected.slice(-10).map((x) => `  ${x}`).join('\n')}`);
  writeFileSync(`${base}/summary.json`, JSON.stringify({ seed, cycles: s.cycles, wallSeconds: Number(secs), ...s }, null, 1));
}

function violation(what) {
  soak.stats.violations.push(what);
  console.log(`soak: VIOLATION after cycle ${soak.stats.cycles + 1}: ${what}`);
  console.log(`soak: the last operations:\n${opLog.dump().split('\n').map((l) => `  ${l}`).join('\n')}`);
  console.log(`soak: coved's log, last lines:\n${tail(`${base}/coved.log`, 25).split('\n').map((l) => `  ${l}`).join('\n')}`);
}

// Monotonic: the clock-step fault moves Date.now().
const started = performance.now();
console.log(`soak: seed=${seed} cycles=${cycles} template=${soak.template} faults=${faultKinds.join(',')} (SOAK_SEED=${seed} repeats it)`);
let status = 'clean';
try {
  await coved.start();
  const schedule = plan();
  for (let c = 0; c < cycles; c++) {
    if (maxSeconds && (performance.now() - started) / 1000 > maxSeconds) { status = 'time-bound'; break; }
    opLog.add(`--- cycle ${c + 1}: faults ${schedule[c].join(',') || 'none'}`);
    const problems = await soak.cycle(schedule[c]);
    problems.push(...await soak.settle());
    // Some teardown finishes in the background (a slot's record goes once
    // the kernel removed its links): only what stays for 20 s counts.
    let findings = [];
    for (let tries = 0; !problems.length && tries < 10; tries++) {
      findings = [];
      const kernel = await checkKernel({ ...ctx, covedPid: coved.pid(), findings });
      if (!kernel.length) break;
      if (tries === 9) problems.push(...kernel);
      else await sleep(2000);
    }
    for (const f of findings) {
      const kind = f.replace(/\/\S*\/([a-z0-9]{20})/g, '$1').replace(/\b[a-z0-9]{20}\b|\d+/g, 'N');
      if (!soak.stats.findings[kind]) console.log(`soak: finding after cycle ${c + 1} (counted, not a violation): ${f}`);
      soak.stats.findings[kind] = (soak.stats.findings[kind] ?? 0) + 1;
    }
    soak.stats.checks++;
    if (problems.length) { problems.forEach(violation); status = 'violation'; break; }
    soak.stats.cycles++;
    if (env.SOAK_VERBOSE) console.log(`soak: cycle ${c + 1} clean (${soak.sandboxes.size} sandboxes, ${soak.stats.ops} ops)`);
  }
} catch (e) {
  violation(`the soak could not go on: ${e.stack}`);
  status = 'error';
}
soak.restoreClockSync();
report(status);
await soak.teardown();
await coved.stop();
process.exit(status === 'clean' || status === 'time-bound' ? 0 : 1);
