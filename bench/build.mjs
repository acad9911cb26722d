// Template builds through coved and the SDK (bench/build.sh starts coved):
//   steps        Template.build of five small RUN steps from base with
//                skipCache, without its finalize phase (the snapshot)
//   finalize     that build's finalize phase (image, boot, snapshot)
//   same_cmds    the same five commands run one by one in a running sandbox
//                of base (the reference)
//   cached       the build again, every step from the cache (goal <= 5 s)
// Goal: steps <= 1.5 x same_cmds.
import { createRequire } from 'node:module';
import { liner } from './stats.mjs';

const { Template, Sandbox } = createRequire(`${process.env.COVE_BUILD}/node/`)('e2b');
const runs = Number(process.env.BENCH_RUNS_BUILD ?? 3);
const line = liner(14, 1);
const now = () => Number(process.hrtime.bigint()) / 1e6;
const cmds = ['echo one > /tmp/1', 'mkdir -p /tmp/d && touch /tmp/d/f', 'ls /usr/bin > /tmp/ls', 'id -un > /tmp/who', 'wc -l /tmp/ls'];
const template = () => cmds.reduce((t, c) => t.runCmd(c), Template().fromTemplate('base'));

const steps = [], finals = [], same = [], cached = [];
for (let i = 0; i < runs; i++) {
  let finalStart = 0;
  const t0 = now();
  await Template.build(template(), 'benchbuild', {
    skipCache: true,
    onBuildLogs: (e) => { if (!finalStart && e.message.startsWith('image made')) finalStart = now(); },
  });
  const t1 = now();
  steps.push((finalStart || t1) - t0);
  finals.push(t1 - (finalStart || t1));
  const sbx = await Sandbox.create('base');
  const s0 = now();
  for (const c of cmds) await sbx.commands.run(c);
  same.push(now() - s0);
  await sbx.kill();
  const c0 = now();
  await Template.build(template(), 'benchbuild');
  cached.push(now() - c0);
}
const st = line('steps', steps);
line('finalize', finals);
const sc = line('same_cmds', same);
const cm = line('cached', cached);
console.log(`steps / same commands: ${(st / sc).toFixed(2)}x (goal <= 1.5x: ${st <= 1.5 * sc ? 'met' : 'NOT met'}); ` +
  `cached rebuild ${(cm / 1000).toFixed(1)} s (goal <= 5 s: ${cm <= 5000 ? 'met' : 'NOT met'})`);
await fetch(`${process.env.E2B_API_URL}/templates/benchbuild`, { method: 'DELETE', headers: { 'X-API-KEY': process.env.E2B_API_KEY } });
