// make bench, part 4: creates from coved's warm pool (COVED_WARM_URL, a
// coved with --warm-pool 20 over the base template only) beside creates by
// restoring the snapshot (E2B_API_URL, the coved of part 3), through the
// E2B SDK:
//   create, and create + first command, one at a time, interleaved;
//   20 creates at once from a full pool: creates per second.
import { createRequire } from 'node:module';
import { liner } from './stats.mjs';

const build = process.env.COVE_BUILD;
const { Sandbox } = createRequire(`${process.env.COVE_NODE_DIR ?? `${build}/node`}/`)('e2b');
const RUNS = Number(process.env.BENCH_RUNS_COVED ?? 10);
const CONCURRENT = Number(process.env.BENCH_CONCURRENT ?? 20);
const warmUrl = process.env.COVED_WARM_URL;
const key = process.env.E2B_API_KEY;
const warmOpts = { apiUrl: warmUrl, sandboxUrl: warmUrl };

const line = liner(40, 1);
// How many warm base sandboxes the pool holds (its /metrics).
const pool = async () => {
  const text = await (await fetch(`${warmUrl}/metrics`, { headers: { 'X-API-KEY': key } })).text();
  const m = /cove_warm_pool_template\{template="base"\} (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
};
const waitPool = async (n, ms = 300_000) => {
  const until = Date.now() + ms;
  while ((await pool()) < n) {
    if (Date.now() > until) throw new Error(`the warm pool did not reach ${n} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

console.log(`coved's warm pool (base), beside restores`);
await waitPool(CONCURRENT);
const restore = [], restoreFirst = [], warm = [], warmFirst = [];
for (let i = 0; i < RUNS; i++) {
  await waitPool(CONCURRENT);
  let t = performance.now();
  let s = await Sandbox.create('base', warmOpts);
  warm.push(performance.now() - t);
  await s.commands.run('true');
  warmFirst.push(performance.now() - t);
  await s.kill();
  t = performance.now();
  s = await Sandbox.create('base');
  restore.push(performance.now() - t);
  await s.commands.run('true');
  restoreFirst.push(performance.now() - t);
  await s.kill();
}
line('create, by restore', restore);
line('create, from the warm pool', warm);
line('create + first command, by restore', restoreFirst);
line('create + first command, from the warm pool', warmFirst);

await waitPool(CONCURRENT);
const t0 = performance.now();
const made = await Promise.all(Array.from({ length: CONCURRENT }, async () => {
  const t = performance.now();
  const s = await Sandbox.create('base', warmOpts);
  return { s, ms: performance.now() - t };
}));
const wall = performance.now() - t0;
line(`${CONCURRENT} at once from the pool: each`, made.map((x) => x.ms));
console.log(`${CONCURRENT} at once from the pool: ${(CONCURRENT / (wall / 1000)).toFixed(1)} creates/s (${wall.toFixed(0)} ms for all)`);
await Promise.all(made.map((x) => x.s.kill()));
