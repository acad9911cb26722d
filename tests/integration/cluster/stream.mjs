// node stream.mjs ID PID: a streaming command in sandbox ID through the
// gateway in E2B_API_URL; after its third line the gateway's coved (PID,
// started by the test) is SIGKILLed. Prints one JSON line: the lines seen,
// whether the stream ended in an error, and how long after the kill.
import { createRequire } from 'node:module';

const { Sandbox } = createRequire(`${process.env.COVE_NODE_DIR}/`)('e2b');
const [id, pid] = process.argv.slice(2);
const lines = [];
let killedAt = 0;
const result = { lines, error: null, endedAfterKillMs: null };
try {
  const sbx = await Sandbox.connect(id);
  const h = await sbx.commands.run('for i in $(seq 1 40); do echo line$i; sleep 0.25; done', {
    background: true,
    timeoutMs: 60_000,
    onStdout: (d) => {
      for (const l of d.split('\n')) if (l) lines.push(l);
      if (!killedAt && lines.length >= 3) {
        killedAt = Date.now();
        process.kill(Number(pid), 'SIGKILL');
      }
    },
  });
  await h.wait();
} catch (e) {
  result.error = `${e?.name}: ${e?.message}`;
}
if (killedAt) result.endedAfterKillMs = Date.now() - killedAt;
console.log(JSON.stringify(result));
