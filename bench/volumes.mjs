// make bench, volumes (issue 20's goal): a volume mounted in a sandbox (NFSv3
// from coved's volume server) beside the same sandbox's own disk (virtio-blk,
// ext4 over a qcow2 overlay), in the same guest, interleaved, through the
// E2B SDK against the coved of E2B_API_URL:
//   a 100 MiB sequential write (dd, conv=fsync), and its read after the
//   guest's caches are dropped (the host's are not: the disk's overlay is in
//   its page cache as the volume's image is);
//   1,000 small files (4 KiB each) created, then synced.
// Goal: each within 3x of the disk. (The other mechanisms measured while
// choosing, virtiofs and 9p, cannot be paused or forked: README, Volumes.)
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { stats } from './stats.mjs';

const build = process.env.COVE_BUILD;
const { Sandbox, Volume } = createRequire(`${process.env.COVE_NODE_DIR ?? `${build}/node`}/`)('e2b');
process.env.E2B_VOLUME_API_URL ??= process.env.E2B_API_URL;
const RUNS = Number(process.env.BENCH_RUNS_VOLUMES ?? 5);

// Prints "seconds MB/s" lines for each measure in DIR.
const script = (dir) => `set -e
d=${dir}/bench.$$; mkdir -p $d; cd $d
t0=$(date +%s%N); dd if=/dev/zero of=big bs=1M count=100 conv=fsync status=none; t1=$(date +%s%N)
sync; echo 3 > /proc/sys/vm/drop_caches
t2=$(date +%s%N); dd if=big of=/dev/null bs=1M status=none; t3=$(date +%s%N)
t4=$(date +%s%N)
python3 -c '
import os
b = b"x" * 4096
for i in range(1000):
    fd = os.open("f%d" % i, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    os.write(fd, b)
    os.close(fd)
os.sync()'
t5=$(date +%s%N)
echo "write $(( (t1 - t0) / 1000 ))"; echo "read $(( (t3 - t2) / 1000 ))"; echo "files $(( (t5 - t4) / 1000 ))"
cd /; rm -rf $d`;

const vol = await Volume.create(`bench-${randomBytes(3).toString('hex')}`);
const sbx = await Sandbox.create('base', { volumeMounts: { '/mnt/vol': vol }, timeoutMs: 3_600_000 });
const got = { disk: { write: [], read: [], files: [] }, volume: { write: [], read: [], files: [] } };
try {
  for (let i = 0; i < RUNS; i++)
    for (const [name, dir] of [['disk', '/var/tmp'], ['volume', '/mnt/vol']]) {
      const out = (await sbx.commands.run(script(dir), { user: 'root', timeoutMs: 600_000 })).stdout;
      for (const line of out.trim().split('\n')) {
        const [what, us] = line.split(' ');
        got[name][what].push(Number(us) / 1000);
      }
    }
} finally {
  await sbx.kill();
  await Volume.destroy(vol.volumeId);
}
console.log(`volumes: a mounted volume (NFSv3) beside the guest's own disk, ${RUNS} runs each, interleaved`);
const mb = (ms) => (100 * 1048576) / (ms / 1000) / 1e6;
for (const what of ['write', 'read', 'files']) {
  const d = stats(got.disk[what]), v = stats(got.volume[what]);
  const label = what === 'files' ? '1,000 files' : `100 MiB ${what}`;
  const rate = (s) => (what === 'files' ? '' : ` (${mb(s.median).toFixed(1)} MB/s)`);
  console.log(`${label.padEnd(16)} disk   median=${d.median.toFixed(0).padStart(6)} ms p99=${d.p99.toFixed(0).padStart(6)} ms${rate(d)}`);
  console.log(`${''.padEnd(16)} volume median=${v.median.toFixed(0).padStart(6)} ms p99=${v.p99.toFixed(0).padStart(6)} ms${rate(v)}  ` +
    `${(v.median / d.median).toFixed(2)}x the disk (goal <= 3x)`);
}
