// node run.mjs ID COMMAND: COMMAND in sandbox ID through the gateway in
// E2B_API_URL (Sandbox.connect, commands.run); prints its stdout and exits
// with its exit code, or prints the error and exits 100.
import { createRequire } from 'node:module';

const { Sandbox } = createRequire(`${process.env.COVE_NODE_DIR}/`)('e2b');
const [id, cmd] = process.argv.slice(2);
try {
  const sbx = await Sandbox.connect(id);
  const r = await sbx.commands.run(cmd, { timeoutMs: 30_000 });
  process.stdout.write(r.stdout);
  process.exit(r.exitCode);
} catch (e) {
  if (typeof e?.exitCode === 'number') {
    process.stdout.write(e.stdout ?? '');
    process.exit(e.exitCode);
  }
  process.stdout.write(`${e?.name}: ${e?.message}\n`);
  process.exit(100);
}
