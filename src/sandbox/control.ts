import type { ServerResponse } from 'node:http';
import type { SandboxCore } from './handler.js';
import { NOT_JSON, isObject, parseJson } from './json.js';
import { sendJson } from './respond.js';
import { ENDPOINTS, type Endpoint } from './types.js';

/**
 * `/__sandbox/*`: the Sandbox methods over HTTP, so a sandbox in another process (`fiscal-worker sandbox`, e2e
 * tests, benchmarks) can be inspected and programmed. Returns false when the path is not a control route.
 */
export function handleControl(core: SandboxCore, method: string, path: string, search: string, raw: Buffer, res: ServerResponse): boolean {
  const route = `${method} ${path}`;
  switch (route) {
    case 'GET /__sandbox/calls': {
      const endpoint = new URLSearchParams(search).get('endpoint') ?? undefined;
      if (endpoint !== undefined && !ENDPOINTS.includes(endpoint as Endpoint)) {
        sendJson(res, 400, { error: { code: 400, message: `endpoint must be one of ${ENDPOINTS.join(', ')}` } });
      } else {
        sendJson(res, 200, core.calls.list(endpoint as Endpoint | undefined));
      }
      return true;
    }
    case 'POST /__sandbox/program': {
      const body = parseJson(raw);
      if (body === NOT_JSON || !isObject(body) || typeof body['key'] !== 'string' || typeof body['directives'] !== 'string') {
        sendJson(res, 400, { error: { code: 400, message: 'body must be {"key": string, "directives": string}' } });
        return true;
      }
      try {
        core.faults.program(body['key'], body['directives']);
        sendJson(res, 200, { ok: true });
      } catch (err) {
        sendJson(res, 400, { error: { code: 400, message: (err as Error).message } });
      }
      return true;
    }
    case 'POST /__sandbox/reset':
      core.reset();
      sendJson(res, 200, { ok: true });
      return true;
    case 'GET /__sandbox/receipts':
      sendJson(res, 200, core.receipts.all(new URLSearchParams(search).get('payment_id') ?? undefined));
      return true;
    case 'POST /__sandbox/receipts': {
      const body = parseJson(raw);
      const pid = isObject(body) ? body['payment_id'] : undefined;
      if (!isObject(body) || (typeof pid !== 'string' && typeof pid !== 'number') || typeof body['total'] !== 'number') {
        sendJson(res, 400, { error: { code: 400, message: 'body must be a receipt with at least payment_id and total (number)' } });
        return true;
      }
      sendJson(res, 201, core.receipts.seed({ ...body, payment_id: String(pid), total: body['total'] }));
      return true;
    }
    default:
      return false;
  }
}
