// The soak's invariants (tests/soak/soak.mjs), checked after every cycle
// against what the kernel holds and what coved's database records (read
// only). Ownership comes from the database: a sandbox owns its record, its
// slot (slots.sandbox), its VMM (sandboxes.vmm_pid), its run directory and
// cgroup (both named by its id, src/vmm/stale.c), its console log
// (ID.console.log) and, when paused to disk, its saved copy
// (STATE_DIR/saved/ID); a slot owns its namespace (NET_DIR/slot-N), host
// link (NAME-N), nft chains (slot-N, nat-N) and map elements ("NAME-N" in
// the slots and natslots maps), src/net/recover.c; a snapshot record owns
// STATE_DIR/snapshots/ID. Anything of these with no owner is a leak.
import { readdirSync, readFileSync, readlinkSync, statSync, existsSync } from 'node:fs';
import { run, dbQuery } from './world.mjs';

const list = (dir) => { try { return readdirSync(dir); } catch { return []; } };
const read = (path) => { try { return readFileSync(path, 'utf8'); } catch { return null; } };

// Each process: pid, its command line, its network namespace, its cgroups,
// its environment.
function processes() {
  const out = [];
  for (const name of list('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = read(`/proc/${name}/cmdline`);
    if (cmdline === null) continue;
    let netns = '';
    try { netns = readlinkSync(`/proc/${name}/ns/net`); } catch { /* gone or a kernel thread */ }
    const stat = read(`/proc/${name}/stat`) ?? '';
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    out.push({ pid: Number(name), cmd: cmdline.split('\0').join(' ').trim(), netns, state,
               cgroup: read(`/proc/${name}/cgroup`) ?? '', env: read(`/proc/${name}/environ`) ?? '' });
  }
  return out;
}

// net:[INODE] of each slot's namespace file.
function slotNamespaces(netDir) {
  const byInode = new Map();
  for (const f of list(netDir)) {
    const m = /^slot-(\d+)$/.exec(f);
    if (!m) continue;
    try { byInode.set(`net:[${statSync(`${netDir}/${f}`).ino}]`, Number(m[1])); } catch { /* being removed */ }
  }
  return byInode;
}

async function nftObjects(name) {
  const r = await run('nft', ['-j', 'list', 'table', 'inet', name], { timeoutMs: 20_000 });
  const found = { table: r.code === 0, chains: new Set(), elems: new Set() };
  if (r.code !== 0) return found;
  for (const item of JSON.parse(r.stdout).nftables ?? []) {
    const c = item.chain?.name && /^(slot|nat)-(\d+)$/.exec(item.chain.name);
    if (c) found.chains.add(`${c[1]}-${c[2]}`);
    const map = item.map;
    if (map && (map.name === 'slots' || map.name === 'natslots'))
      for (const e of map.elem ?? []) {
        const key = Array.isArray(e) ? e[0] : e;
        const m = typeof key === 'string' && new RegExp(`^${name}-(\\d+)$`).exec(key);
        if (m) found.elems.add(`${map.name}:${m[1]}`);
      }
  }
  return found;
}

// What the database says, or a violation when it cannot be read.
async function records(db) {
  const sandboxes = await dbQuery(db, 'SELECT id, state, vmm_pid FROM sandboxes');
  const slots = await dbQuery(db, 'SELECT idx, state, sandbox FROM slots');
  const snapshots = await dbQuery(db, 'SELECT id, state FROM snapshots');
  const made = await dbQuery(db, 'SELECT sandbox, snapshot FROM sandbox_snapshots');
  if (!sandboxes || !slots || !snapshots || !made) return null;
  return { sandboxes, slots, snapshots, made };
}

// checkKernel(ctx) -> a list of violations (strings); ctx: {db, runDir,
// netDir, stateDir, logDir, netName, covedPid, everSeen (ids this soak saw),
// findings (an array that what is not a violation yet is added to)}.
export async function checkKernel(ctx) {
  const v = [];
  const rec = await records(ctx.db);
  if (!rec) return [`coved's database ${ctx.db} could not be read`];
  const live = new Map(rec.sandboxes.map((s) => [s.id, s]));
  for (const s of rec.sandboxes)
    if (s.state !== 'running' && s.state !== 'paused') v.push(`record of sandbox ${s.id} left in state ${s.state}`);
  const slotIdx = new Set(rec.slots.map((s) => s.idx));
  for (const s of rec.slots) {
    if (s.state === 'creating' || s.state === 'destroying') v.push(`slot ${s.idx} left in state ${s.state}`);
    if (s.state === 'used' && !live.has(s.sandbox)) v.push(`slot ${s.idx} used by ${s.sandbox}, which has no record`);
  }
  const vmmPids = new Map([...live.values()].filter((s) => s.vmm_pid > 0).map((s) => [s.vmm_pid, s.id]));

  // Processes: a VMM of ours (its environment's COVE_VMM_DIR, or its
  // command line when it is not confined, names our run directory) is a
  // recorded sandbox's; whatever runs in a slot's namespace too.
  const nsByInode = slotNamespaces(ctx.netDir);
  for (const p of processes()) {
    if (p.state === 'Z' || p.pid === ctx.covedPid) continue;
    const ours = p.cmd.includes(`${ctx.runDir}/`) || p.env.includes(`COVE_VMM_DIR=${ctx.runDir}/`);
    const slot = nsByInode.get(p.netns);
    if ((ours || slot !== undefined) && !vmmPids.has(p.pid))
      v.push(`process ${p.pid} (${p.cmd.slice(0, 100)}) ${slot !== undefined ? `in slot-${slot}'s namespace ` : ''}is no recorded sandbox's VMM`);
    const cg = /:\/cove\/([a-z0-9]{20})\b/.exec(p.cgroup);
    if (cg && ctx.everSeen.has(cg[1]) && !live.has(cg[1]))
      v.push(`process ${p.pid} (${p.cmd.slice(0, 80)}) is in the cgroup of ${cg[1]}, which has no record`);
  }
  for (const [pid, id] of vmmPids)
    if (live.get(id).state === 'running' && !existsSync(`/proc/${pid}`))
      v.push(`sandbox ${id} is recorded running with VMM ${pid}, which is gone`);

  // Namespaces, their mounts, host links, nft objects: a slot's.
  for (const f of list(ctx.netDir)) {
    const m = /^slot-(\d+)$/.exec(f);
    if (m && !slotIdx.has(Number(m[1]))) v.push(`namespace ${ctx.netDir}/${f} has no slot record`);
  }
  const mounts = (read('/proc/self/mountinfo') ?? '').split('\n').map((l) => l.split(' ')[4]).filter(Boolean);
  for (const mp of mounts) {
    const ns = mp.startsWith(`${ctx.netDir}/`) && /slot-(\d+)$/.exec(mp);
    if (ns && !slotIdx.has(Number(ns[1]))) v.push(`mount ${mp} has no slot record`);
    const rd = mp.startsWith(`${ctx.runDir}/`) && /^([^/]+)/.exec(mp.slice(ctx.runDir.length + 1));
    if (rd && !live.has(rd[1])) v.push(`mount ${mp} is under the run directory of ${rd[1]}, which has no record`);
    if (mp.startsWith(`${ctx.stateDir}/`)) v.push(`mount ${mp} inside the state directory`);
  }
  const links = await run('ip', ['-o', 'link', 'show'], { timeoutMs: 20_000 });
  for (const line of links.stdout.split('\n')) {
    const m = new RegExp(`^\\d+: ${ctx.netName}-(\\d+)[@:]`).exec(line);
    if (m && !slotIdx.has(Number(m[1]))) v.push(`host link ${ctx.netName}-${m[1]} has no slot record`);
  }
  const nft = await nftObjects(ctx.netName);
  for (const c of nft.chains) if (!slotIdx.has(Number(c.split('-')[1]))) v.push(`nft chain ${c} has no slot record`);
  for (const e of nft.elems) if (!slotIdx.has(Number(e.split(':')[1]))) v.push(`nft element ${e} has no slot record`);
  // A sandbox's slot without its rules: its guest's egress is not judged.
  // coved's guard (src/net/guard.c) makes a deleted table again and puts
  // every slot's rules back while it runs; the caller retries the check
  // for a while before a violation stands.
  for (const s of rec.slots) {
    if (s.state !== 'used') continue;
    const why = !nft.table ? `no nft table inet ${ctx.netName}`
      : !(nft.chains.has(`slot-${s.idx}`) && nft.elems.has(`slots:${s.idx}`)) ? `nft chain slot-${s.idx} or its map entry missing` : '';
    if (why) v.push(`slot ${s.idx} of running sandbox ${s.sandbox} has no egress rules (${why})`);
  }

  // Run directories, cgroups, console logs: a sandbox's (by id).
  for (const d of list(ctx.runDir))
    if (/^[a-z0-9]{20}$/.test(d) && !live.has(d)) v.push(`run directory ${ctx.runDir}/${d} has no record`);
  for (const ctl of list('/sys/fs/cgroup').map((c) => `/sys/fs/cgroup/${c}/cove`).concat(['/sys/fs/cgroup/cove']))
    for (const d of list(ctl))
      if (ctx.everSeen.has(d) && !live.has(d)) v.push(`cgroup ${ctl}/${d} has no record`);
  // A failed create keeps its console log on purpose (its error names it):
  // a finding, not a violation.
  for (const f of list(ctx.logDir)) {
    const m = /^([a-z0-9]{20})\.console\.log$/.exec(f);
    if (m && !live.has(m[1])) ctx.findings.push(`console log ${ctx.logDir}/${f} kept after its sandbox ended`);
  }

  // Saved copies and snapshots on disk.
  for (const d of list(`${ctx.stateDir}/saved`)) {
    const s = live.get(d);
    if (!s) v.push(`saved copy ${ctx.stateDir}/saved/${d} has no record`);
    else if (s.state !== 'paused') v.push(`saved copy of ${d}, which is ${s.state}`);
  }
  const snaps = new Map(rec.snapshots.map((s) => [s.id, s]));
  const inUse = new Set(rec.made.filter((m) => live.has(m.sandbox)).map((m) => m.snapshot));
  for (const s of rec.snapshots) {
    if (s.state === 'making') v.push(`snapshot ${s.id} left in state making`);
    if (s.state === 'deleted' && !inUse.has(s.id)) v.push(`deleted snapshot ${s.id} kept though no sandbox uses it`);
  }
  for (const d of list(`${ctx.stateDir}/snapshots`)) {
    if (d.startsWith('.')) continue;
    const id = decodeURIComponent(d);
    if (!snaps.has(id) && !snaps.has(d)) v.push(`snapshot files ${ctx.stateDir}/snapshots/${d} have no record`);
  }
  return v;
}

// The records, for the driver's own checks.
export async function recordedSandboxes(db) {
  const rows = await dbQuery(db, 'SELECT id, state, vmm_pid FROM sandboxes');
  return rows ? new Map(rows.map((r) => [r.id, r])) : null;
}
