// make bench, issue 19's steady run: SANDBOXES (50) tiny sandboxes created
// through the official SDK, each running commands one after another
// without pause for MINUTES (60), while coved's RSS and CPU time are
// sampled every BENCH_STEADY_SAMPLE_S (30) seconds by steady.sh. coved is flat when its RSS and its
// CPU per minute in the last tenth of the run are within 10% of the same
// in the first tenth after the warm-up (the first sample's minute); commands
// per second over the run say how much it carried, and coved's CPU per
// 1,000 commands says the same when other work shared the host's cores.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { liner } from './stats.mjs';

const { Sandbox } = createRequire(`${process.env.COVE_BUILD}/node/`)('e2b');
const N = Number(process.env.BENCH_STEADY_SANDBOXES ?? 50);
const MINUTES = Number(process.env.BENCH_STEADY_MINUTES ?? 60);
const line = liner(30, 1);

// Samples come from steady.sh's sampler (a shell loop, so that this
// process's event loop cannot delay them): "uptime-s rss-kib ticks". Time
// is the boot clock (/proc/uptime), which a stepped wall clock leaves alone.
const readSamples = () => readFileSync(process.env.STEADY_SAMPLES, 'utf8').trim().split('\n')
  .map((l) => l.split(' ').map(Number)).map(([t, rss, cpu]) => ({ t: t * 1000, rss: rss / 1024, cpu }));
const uptimeMs = () => Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000;

const sbxs = [];
for (let i = 0; i < N; i += 10)
  sbxs.push(...(await Promise.all(Array.from({ length: Math.min(10, N - i) }, () =>
    Sandbox.create('tiny', { timeoutMs: (MINUTES + 10) * 60000 })))));
console.log(`steady: ${N} sandboxes, each running commands back to back for ${MINUTES} min`);

const end = uptimeMs() + MINUTES * 60000;
let done = 0, failed = 0;
const latencies = [], finished = [];
const worker = async (sbx) => {
  for (let k = 0; uptimeMs() < end; k++) {
    const t = performance.now();
    try {
      const r = await sbx.commands.run(`echo ${k}`);
      if (r.stdout.trim() !== String(k)) throw new Error(`wrong output ${r.stdout}`);
      done++;
      finished.push(uptimeMs());
      if (k % 20 === 0) latencies.push(performance.now() - t);
    } catch (e) {
      if (++failed <= 3) console.log(`a command failed: ${e.message}`);
    }
  }
};
const start = uptimeMs();
await Promise.all(sbxs.map(worker));
const stop = uptimeMs();
const samples = readSamples().filter((s) => s.t >= start && s.t <= stop);
console.log(`load ran ${((stop - start) / 60000).toFixed(1)} min; ${samples.length} samples`);
await Promise.all(sbxs.map((s) => s.kill().catch(() => {})));

// CPU per minute between consecutive samples; the warm-up's first minute left out.
const rate = (a, b) => ((b.cpu - a.cpu) / 100) / ((b.t - a.t) / 60000);
const warm = samples.findIndex((s) => s.t - samples[0].t >= 60000);
const body = samples.slice(Math.max(1, warm));
const tenth = Math.max(2, Math.floor(body.length / 10));
const head = body.slice(0, tenth), tail = body.slice(-tenth);
const avg = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const cpuOf = (xs) => avg(xs.slice(1).map((s, i) => rate(xs[i], s)));
// coved's CPU per 1,000 commands in a window: what it spends on the work,
// whatever else the host's cores were doing meanwhile.
const perK = (xs) => {
  const a = xs[0], b = xs[xs.length - 1];
  const n = finished.filter((t) => t > a.t && t <= b.t).length;
  return n ? ((b.cpu - a.cpu) / 100) / (n / 1000) : NaN;
};
const rssHead = avg(head.map((s) => s.rss)), rssTail = avg(tail.map((s) => s.rss));
const cpuHead = cpuOf(head), cpuTail = cpuOf(tail);
const pct = (a, b) => (100 * (b - a) / a).toFixed(1);
line('command round trip (sampled)', latencies);
console.log(`commands: ${done} ok, ${failed} failed, ${(done / (MINUTES * 60)).toFixed(1)}/s`);
console.log(`coved RSS: ${rssHead.toFixed(1)} MiB first tenth, ${rssTail.toFixed(1)} MiB last tenth (${pct(rssHead, rssTail)}%; goal within 10%)`);
console.log(`coved CPU: ${cpuHead.toFixed(2)} s/min first tenth, ${cpuTail.toFixed(2)} s/min last tenth (${pct(cpuHead, cpuTail)}%; goal within 10%)`);
console.log(`coved CPU per 1,000 commands: ${perK(head).toFixed(2)} s first tenth, ${perK(tail).toFixed(2)} s last tenth (${pct(perK(head), perK(tail))}%; goal within 10%)`);
console.log(`samples (min: RSS MiB, CPU s/min): ${samples.slice(1).map((s, i) =>
  `${((s.t - samples[0].t) / 60000).toFixed(1)}: ${s.rss.toFixed(1)}, ${rate(samples[i], s).toFixed(2)}`).join('; ')}`);
