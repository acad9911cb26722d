// make bench, part 2: the guest agent on the host (loopback), driven by the
// official E2B SDK, beside references measured in the same run:
//   commands.run('true') round trip  vs  spawning `bash -l -c true` directly
//   stdout throughput of `cat` of a 100 MiB file
//   upload and download of a 100 MiB file  vs  copying it on the same disk
// Goals: round trip within 2x of bash -l -c; file transfer >= 200 MiB/s.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startAgent } from '../tests/e2b/agent.mjs';
const RUNS = Number(process.env.BENCH_RUNS_AGENT ?? 50);
const MIB = 1024 * 1024;

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { median: at(0.5), p99: at(0.99), max: s[s.length - 1] };
};
const line = (name, xs, unit = 'ms') => {
  const { median, p99, max } = stats(xs);
  console.log(`${name.padEnd(26)} n=${String(xs.length).padEnd(4)} median=${median.toFixed(2).padStart(8)} ${unit}  p99=${p99.toFixed(2).padStart(8)} ${unit}  max=${max.toFixed(2).padStart(8)} ${unit}`);
  return median;
};

const dir = mkdtempSync(join(tmpdir(), 'cove-bench-agent-'));
const { agent, port, sbx } = await startAgent();
try {

  const direct = [], viaAgent = [];
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now();
    spawnSync('/bin/bash', ['-l', '-c', 'true']);
    direct.push(performance.now() - t);
    t = performance.now();
    await sbx.commands.run('true');
    viaAgent.push(performance.now() - t);
  }
  console.log(`agent on the host, ${RUNS} runs each, interleaved`);
  const d = line('bash -l -c true (direct)', direct);
  const a = line("commands.run('true')", viaAgent);
  console.log(`  ratio agent/direct (medians): ${(a / d).toFixed(2)}x   goal <= 2x`);

  const big = join(dir, 'big.bin');
  writeFileSync(big, Buffer.alloc(100 * MIB, 7));
  const tput = (label, ms) => console.log(`${label.padEnd(26)} ${((100 * 1000) / ms).toFixed(0).padStart(6)} MiB/s  (${ms.toFixed(0)} ms)`);
  let t = performance.now();
  copyFileSync(big, join(dir, 'copy.bin'));
  tput('reference: cp on disk', performance.now() - t);
  let bytes = 0;
  t = performance.now();
  await sbx.commands.run(`cat ${big}`, { onStdout: (s) => { bytes += s.length; } });
  tput('stdout of cat 100 MiB', performance.now() - t);
  if (bytes !== 100 * MIB) console.log(`  (received ${bytes} bytes)`);
  const data = Buffer.alloc(100 * MIB, 9);
  t = performance.now();
  await sbx.files.write(join(dir, 'up.bin'), data);
  tput('upload 100 MiB', performance.now() - t);
  t = performance.now();
  const back = await sbx.files.read(join(dir, 'up.bin'), { format: 'bytes' });
  tput('download 100 MiB', performance.now() - t);
  if (back.length !== 100 * MIB) console.log(`  (downloaded ${back.length} bytes)`);
  // The agent's own capacity, without the SDK's JavaScript in the way: curl.
  const curl = (args) => {
    const t0 = performance.now();
    const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', ...args]);
    if (String(r.stdout) !== '200') console.log(`  (curl ${args.join(' ')}: ${r.stdout})`);
    return performance.now() - t0;
  };
  const url = `http://127.0.0.1:${port}/files?path=`;
  tput('upload, curl octet-stream', curl(['-H', 'Content-Type: application/octet-stream', '--data-binary', `@${big}`, `${url}${join(dir, 'c1.bin')}`]));
  tput('upload, curl multipart', curl(['-F', `file=@${big};filename=${join(dir, 'c2.bin')}`, `http://127.0.0.1:${port}/files`]));
  tput('download, curl', curl([`${url}${big}`]));
  console.log('  goal: file transfer >= 200 MiB/s (the SDK lines include its own JavaScript decoding)');
} finally {
  agent.kill();
  rmSync(dir, { recursive: true, force: true });
}
