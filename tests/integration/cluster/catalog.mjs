// What the cluster test's node scripts read of the catalog: a sandbox's
// record straight from etcd's JSON gateway (CL_ETCD_URLS: the members' client
// URLs, comma-separated; the first that answers).
export async function record(id) {
  const key = Buffer.from(`/cove/v1/sb/${id}`).toString('base64');
  let last;
  for (const url of process.env.CL_ETCD_URLS.split(',')) {
    try {
      const res = await fetch(`${url}/v3/kv/range`, {
        method: 'POST',
        body: JSON.stringify({ key }),
        signal: AbortSignal.timeout(3000),
      });
      const body = await res.json();
      const kv = body.kvs?.[0];
      return kv ? JSON.parse(Buffer.from(kv.value, 'base64').toString()) : null;
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

export const ownerOf = async (id) => (await record(id))?.host ?? null;
