// Demo traffic for the compose `demo` profile, so the Grafana dashboard shows data after one command (README). It talks
// to the API only (like the sales system would) and uses sandbox fault ids (docs/SANDBOX.md), so a share of
// confirmations retries, gets rejected or dead-letters. It runs only with the demo profile, whose workers call the
// sandbox (SANDBOX_PROVIDERS=true in deploy/demo.env).
const api = process.env.API_URL ?? 'http://api:3000';
const token = (process.env.API_TOKEN ?? '').split(',')[0].trim(); // the first of API_TOKENS
const perSecond = Number(process.env.DEMO_TRAFFIC_PER_SECOND ?? '5');
const QR = 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161';
const FAULTS = ['', '', '', '', '', '', '', 's503x2_', 'reject_', 'fail_', 'slow400_', 's429x1_ra1_', 'garbagex1_'];
const PROVIDERS = ['payme', 'uzum', 'anor', 'click'];

let n = 0;
function item() {
  n += 1;
  const provider = PROVIDERS[n % PROVIDERS.length];
  const id = `${FAULTS[Math.floor(Math.random() * FAULTS.length)]}demo-${Date.now().toString(36)}-${n}`;
  return { provider, [provider === 'anor' ? 'transaction_id' : 'payment_id']: id, qr_code: QR, reference: `demo-order-${n}` };
}

async function tick() {
  const items = Array.from({ length: perSecond }, item);
  try {
    const res = await fetch(`${api}/v1/confirmations/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ items }),
    });
    if (!res.ok) process.stderr.write(`demo-traffic: ${res.status} ${await res.text()}\n`);
  } catch (err) {
    process.stderr.write(`demo-traffic: ${err.message}\n`); // the API may still be starting
  }
}

if (token && perSecond > 0) setInterval(tick, 1000);
else {
  const why = token ? 'DEMO_TRAFFIC_PER_SECOND=0' : 'API_TOKENS is empty (run with --env-file deploy/demo.env)';
  process.stderr.write(`demo-traffic: ${why}, idle\n`);
  setInterval(() => undefined, 3_600_000); // idle rather than exit: `restart: unless-stopped` would loop
}
