// make bench, part 2: a Cove agent driven by the official E2B SDK, on the host
// (loopback) or, with COVE_E2B_URL/COVE_E2B_TOKEN set, inside a real guest
// reached through `cove run --publish` (see tests/e2b/agent.mjs), beside
// references measured in the same run on the same machine as the agent:
//   commands.run('true') round trip  vs  spawning `bash -l -c true` directly
//   stdout throughput of `cat` of a 100 MiB file
//   upload and download of a 100 MiB file  vs  copying it on the same disk
// Goals (host): round trip within 2x of bash -l -c; file transfer >= 200 MiB/s.
import { spawnSync } from 'node:child_process';
import { writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { liner } from './stats.mjs';

import { startAgent, guestMode } from '../tests/e2b/agent.mjs';
const RUNS = Number(process.env.BENCH_RUNS_AGENT ?? 50);
const MIB = 1024 * 1024;
const where = guestMode ? 'in a guest (TCG)' : 'on the host';

const line = liner(26, 2);
const tput = (label, ms) => console.log(`${label.padEnd(26)} ${((100 * 1000) / ms).toFixed(0).padStart(6)} MiB/s  (${ms.toFixed(0)} ms)`);

const { agent, port, sbx, local } = await startAgent();
// What the references need, done where the agent runs: directly on the host,
// or inside the guest by one shell script that times itself (so the agent's
// own cost is not part of the reference).
const sh = async (cmd) => (await sbx.commands.run(cmd, { user: 'root', timeoutMs: 600000 })).stdout;
// bash's own `time` keyword adds no process of its own to what it measures.
const timed = async (cmd) => {
  const r = await sbx.commands.run(`TIMEFORMAT=%3R; time ${cmd}`, { user: 'root', timeoutMs: 600000 });
  return Number(r.stderr.trim().split('\n').pop()) * 1000;
};
const ref = guestMode ? {
  bashOnce: async () => timed('bash -l -c true'),
  makeFile: async (p) => sh(`head -c ${100 * MIB} /dev/zero | tr '\\0' '\\7' > ${p}`),
  copy: async (a, b) => timed(`cp ${a} ${b}`),
} : {
  bashOnce: async () => { const t = performance.now(); spawnSync('/bin/bash', ['-l', '-c', 'true']); return performance.now() - t; },
  makeFile: async (p) => writeFileSync(p, Buffer.alloc(100 * MIB, 7)),
  copy: async (a, b) => { const t = performance.now(); copyFileSync(a, b); return performance.now() - t; },
};
const dir = await local.mkdtemp('cove-bench-agent-');
try {
  const direct = [], viaAgent = [];
  for (let i = 0; i < RUNS; i++) {
    direct.push(await ref.bashOnce());
    const t = performance.now();
    await sbx.commands.run('true');
    viaAgent.push(performance.now() - t);
  }
  console.log(`agent ${where}, ${RUNS} runs each, interleaved`);
  const d = line('bash -l -c true (direct)', direct);
  const a = line("commands.run('true')", viaAgent);
  console.log(`  ratio agent/direct (medians): ${(a / d).toFixed(2)}x   goal <= 2x`);

  const big = join(dir, 'big.bin');
  await ref.makeFile(big);
  tput('reference: cp on disk', await ref.copy(big, join(dir, 'copy.bin')));
  let bytes = 0;
  let t = performance.now();
  await sbx.commands.run(`cat ${big}`, { onStdout: (s) => { bytes += s.length; }, timeoutMs: 600000 });
  tput('stdout of cat 100 MiB', performance.now() - t);
  if (bytes !== 100 * MIB) console.log(`  (received ${bytes} characters)`);
  const data = Buffer.alloc(100 * MIB, 9);
  t = performance.now();
  await sbx.files.write(join(dir, 'up.bin'), data, { requestTimeoutMs: 600000 });
  tput('upload 100 MiB', performance.now() - t);
  t = performance.now();
  const back = await sbx.files.read(join(dir, 'up.bin'), { format: 'bytes', requestTimeoutMs: 600000 });
  tput('download 100 MiB', performance.now() - t);
  if (back.length !== 100 * MIB) console.log(`  (downloaded ${back.length} bytes)`);
  // The agent's own capacity, without the SDK's JavaScript in the way: curl
  // (sending the sandbox's token when it has one).
  const token = guestMode ? ['-H', `X-Access-Token: ${process.env.COVE_E2B_TOKEN}`] : [];
  const curl = (args) => {
    const t0 = performance.now();
    const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...token, ...args]);
    if (String(r.stdout) !== '200') console.log(`  (curl ${args.join(' ')}: ${r.stdout})`);
    return performance.now() - t0;
  };
  const url = `http://127.0.0.1:${port}/files`;
  const upload = `/tmp/cove-bench-upload-${process.pid}.bin`;
  writeFileSync(upload, Buffer.alloc(100 * MIB, 5));
  tput('upload, curl octet-stream', curl(['-H', 'Content-Type: application/octet-stream', '--data-binary', `@${upload}`, `${url}?path=${join(dir, 'c1.bin')}`]));
  tput('upload, curl multipart', curl(['-F', `file=@${upload};filename=${join(dir, 'c2.bin')}`, url]));
  tput('download, curl', curl([`${url}?path=${big}`]));
  spawnSync('rm', ['-f', upload]);
  console.log(guestMode ? '  (under TCG every guest instruction is emulated: compare with the reference lines above)'
    : '  goal: file transfer >= 200 MiB/s (the SDK lines include its own JavaScript decoding)');
} finally {
  await local.rm(dir);
  agent?.kill();
}
