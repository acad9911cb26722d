// The code interpreter (code-interpreter-v1, @e2b/code-interpreter) through
// coved, each figure beside its floor measured in the same run:
//   run_code        runCode('1+1') round trip from the host through coved
//   bare_execute    a Jupyter execute of '1+1' (reply and idle) on the same
//                   kernel, from a jupyter_client in the same guest (floor)
//   ci_first_run    Sandbox.create() of code-interpreter-v1 -> first
//                   runCode('1+1') answered
//   base_first_cmd  Sandbox.create('base') -> first commands.run('true')
//   stdout_10mib    a run printing 10 MiB, streamed to the client: MiB/s
//   bare_stdout     the same run's stdout as the in-guest jupyter_client
//                   receives it (what the kernel itself delivers)
// Goals (issue 15): run_code <= 1.2 x bare_execute + 5 ms; ci_first_run <=
// base_first_cmd + 50 ms; stdout_10mib >= 50 MiB/s.
import { createRequire } from 'node:module';
import { liner } from './stats.mjs';

const need = createRequire(`${process.env.COVE_BUILD}/node/`);
const { Sandbox } = need('@e2b/code-interpreter');
const { Sandbox: Base } = need('e2b');
const runs = Number(process.env.BENCH_RUNS_INTERPRETER ?? 30);
const firsts = Number(process.env.BENCH_RUNS ?? 10);
const line = liner(16, 1);
const now = () => Number(process.hrtime.bigint()) / 1e6;

// A jupyter_client in the guest, on the default context's kernel (the
// oldest ipykernel): N executes of CODE, each to its reply and idle; with
// stream, the MiB/s of its stdout instead.
const bare = (n, code = '1+1', stream = false) => `
import json, subprocess, time
from jupyter_client import BlockingKernelClient
pid = subprocess.run(["pgrep", "-o", "-f", "ipykernel_launcher"], capture_output=True, text=True).stdout.split()[0]
argv = open(f"/proc/{pid}/cmdline").read().split("\\0")
c = BlockingKernelClient(connection_file=argv[argv.index("-f") + 1])
c.load_connection_file()
c.start_channels()
c.wait_for_ready(timeout=60)
out = []
for i in range(${n} + 5):
    t0 = time.perf_counter()
    mid = c.execute(${JSON.stringify(code)})
    reply = idle = False
    got = 0
    while not (reply and idle):
        if not reply:
            m = c.get_shell_msg(timeout=300)
            reply = m["parent_header"].get("msg_id") == mid
        m = c.get_iopub_msg(timeout=300)
        mine = m["parent_header"].get("msg_id") == mid
        if mine and m["msg_type"] == "stream":
            got += len(m["content"]["text"])
        idle = idle or (mine and m["msg_type"] == "status" and m["content"]["execution_state"] == "idle")
    secs = time.perf_counter() - t0
    out.append(got / 1048576 / secs if ${stream ? 'True' : 'False'} else secs * 1000)
print(json.dumps(out[5:]))
`;

const TEN_MIB = 'import sys\nfor i in range(10):\n    sys.stdout.write("x" * (1 << 20))';
const sbx = await Sandbox.create({ timeoutMs: 900_000 });
try {
  for (let i = 0; i < 5; i++) await sbx.runCode('1+1');
  const rt = [];
  for (let i = 0; i < runs; i++) {
    const t0 = now();
    const ex = await sbx.runCode('1+1');
    rt.push(now() - t0);
    if (ex.text !== '2') throw new Error(`runCode('1+1') gave ${ex.text}`);
  }
  await sbx.files.write('/tmp/bare.py', bare(runs));
  const r = await sbx.commands.run('python3 /tmp/bare.py', { timeoutMs: 300_000 });
  const floor = JSON.parse(r.stdout);
  const a = line('run_code', rt);
  const b = line('bare_execute', floor);
  console.log(`run_code / bare_execute = ${(a / b).toFixed(2)}x, ${(a - b).toFixed(1)} ms over (goal <= 1.2x + 5 ms: ${a <= 1.2 * b + 5 ? 'met' : 'not met'})`);

  const mib = [];
  for (let i = 0; i < 5; i++) {
    let bytes = 0;
    const t0 = now();
    await sbx.runCode(TEN_MIB, {
      onStdout: (m) => { bytes += m.line.length; }, timeoutMs: 300_000,
    });
    const secs = (now() - t0) / 1000;
    if (bytes !== 10 << 20) throw new Error(`10 MiB run gave ${bytes} bytes`);
    mib.push(10 / secs);
  }
  const tput = line('stdout_10mib', mib, 'MiB/s');
  await sbx.files.write('/tmp/bare_stream.py', bare(5, TEN_MIB, true));
  const rs = await sbx.commands.run('python3 /tmp/bare_stream.py', { timeoutMs: 600_000 });
  const kernelOnly = line('bare_stdout', JSON.parse(rs.stdout), 'MiB/s');
  console.log(`stdout_10mib median ${tput.toFixed(1)} MiB/s, ${(tput / kernelOnly * 100).toFixed(0)}% of what the kernel delivers to a client in the guest (goal >= 50 MiB/s: ${tput >= 50 ? 'met' : 'not met'})`);
} finally {
  await sbx.kill().catch(() => {});
}

const ci = [], base = [];
for (let i = 0; i < firsts; i++) {
  let t0 = now();
  const s = await Sandbox.create();
  const ex = await s.runCode('1+1');
  ci.push(now() - t0);
  if (ex.text !== '2') throw new Error(`first runCode gave ${ex.text}`);
  await s.kill();
  t0 = now();
  const b = await Base.create('base');
  await b.commands.run('true');
  base.push(now() - t0);
  await b.kill();
}
const c1 = line('ci_first_run', ci);
const b1 = line('base_first_cmd', base);
console.log(`ci_first_run - base_first_cmd = ${(c1 - b1).toFixed(1)} ms (goal <= +50 ms: ${c1 - b1 <= 50 ? 'met' : 'not met'})`);
