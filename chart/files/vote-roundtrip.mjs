// `helm test`: casts one vote through the server and reads it back once the consumer has
// counted it, so the whole path (API -> Redis stream -> consumer -> PostgreSQL -> API) is proven.
// Plain JavaScript on purpose: it runs from a ConfigMap in the server image, with no project code.
const base = process.env.SERVER_URL;
const timeoutMs = Number(process.env.TIMEOUT_SECONDS ?? '60') * 1000;
const pollMs = Number(process.env.POLL_MS ?? '500');
const deadline = Date.now() + timeoutMs;

function fail(message) {
  console.error(`vote-roundtrip: FAIL: ${message}`);
  process.exit(1);
}

async function getJson(path) {
  const res = await fetch(base + path, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) fail(`GET ${path} answered ${res.status}`);
  return res.json();
}

if (!base) fail('SERVER_URL is not set');

const before = await getJson('/api/results');
// A fresh key per run; sent twice to check that a retried vote is counted once.
const key = `helm-test-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
let id;
for (let attempt = 0; attempt < 2; attempt += 1) {
  const res = await fetch(`${base}/api/vote`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ option: 'cats' }),
    signal: AbortSignal.timeout(5000),
  });
  if (res.status !== 202) fail(`POST /api/vote answered ${res.status}: ${await res.text()}`);
  const body = await res.json();
  if (typeof body.id !== 'string' || body.id === '') fail(`POST /api/vote gave no id: ${JSON.stringify(body)}`);
  if (id !== undefined && body.id !== id) fail(`the retried vote got another id (${body.id} != ${id})`);
  id = body.id;
}
console.log(`vote-roundtrip: vote ${id} accepted`);

let status;
for (;;) {
  status = await getJson(`/api/vote/${encodeURIComponent(id)}`);
  if (status.counted === true) break;
  if (Date.now() > deadline) fail(`vote ${id} not counted within ${timeoutMs} ms`);
  await new Promise((resolve) => setTimeout(resolve, pollMs));
}

// The results come from the server's live tally, which follows PostgreSQL through pub/sub a
// moment after the vote is counted: wait for it to catch up, within the same deadline.
let after;
for (;;) {
  after = await getJson('/api/results');
  if (after.seq >= status.seq) break;
  if (Date.now() > deadline) fail(`results seq ${after.seq} stayed behind the vote's seq ${status.seq}`);
  await new Promise((resolve) => setTimeout(resolve, pollMs));
}
if (!(after.total >= before.total + 1)) fail(`total went from ${before.total} to ${after.total}`);
if (after.cats + after.dogs !== after.total) fail(`cats + dogs != total in ${JSON.stringify(after)}`);
console.log(`vote-roundtrip: OK: vote ${id} counted in tally ${status.seq}; totals ${JSON.stringify(after)}`);
