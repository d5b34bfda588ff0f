import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Outcome } from '../../src/domain/outcome.js';
import { classifyReceiptList, classifyReceiptRead } from '../../src/providers/freedompay.js';
import { REGISTRY } from '../../src/providers/index.js';
import type { ProviderAnswer } from '../../src/providers/transport.js';
import { LIVE_ANOR_SUCCESS, LIVE_CLICK_SUCCESS, LIVE_REFUSALS, LIVE_UZUM_SUCCESS } from '../fixtures/live-bodies.js';
import { ANOR_CONFIRM_SUCCESS, FISCALBOX_ERROR, PAYME_CONFIRM_SUCCESS, UZUM_CONFIRM_SUCCESS } from '../fixtures/seed-bodies.js';
import {
  FREEDOMPAY_CREATE_RESPONSE,
  FREEDOMPAY_GET_RESPONSE,
  FREEDOMPAY_LIST_RESPONSE,
  FREEDOMPAY_RECEIPT_OBJECT,
  PAYME_GO_SUCCESS,
} from '../fixtures/seed-bodies-003-004.js';
import { httpAnswer } from '../helpers/answers.js';

/**
 * CONTRACT §4: the class is read from the fields that decide it and nothing else. Starting from every seed example and
 * every live example of ../shared/fiscalbox-live.md, any field that does not decide the class is set to null, removed
 * or given another type (any JSON value), in any combination: the class never changes. A refusal stays a refusal
 * whatever its `data` and `error` hold.
 */

type Json = any;
type Path = readonly (string | number)[];
type Classify = (answer: ProviderAnswer) => Outcome;

const RUNS = 300;

/** What decides, per classifier (besides `is_success` of FiscalBox bodies), as CONTRACT §4 and seed 004 say. */
interface Case {
  classify: Classify;
  decisive: string[];
  examples: Record<string, Json>;
}

const FISCALBOX_REFUSALS = { FISCALBOX_ERROR, ...LIVE_REFUSALS };

const CASES: Record<string, Case> = {
  payme: { classify: REGISTRY.payme.classify, decisive: ['data.error'], examples: { PAYME_CONFIRM_SUCCESS, ...FISCALBOX_REFUSALS } },
  uzum: {
    classify: REGISTRY.uzum.classify,
    decisive: ['data.payment_status', 'data.error_code'],
    examples: { UZUM_CONFIRM_SUCCESS, LIVE_UZUM_SUCCESS, ...FISCALBOX_REFUSALS },
  },
  anor: { classify: REGISTRY.anor.classify, decisive: ['data.error_code'], examples: { ANOR_CONFIRM_SUCCESS, LIVE_ANOR_SUCCESS, ...FISCALBOX_REFUSALS } },
  click: { classify: REGISTRY.click.classify, decisive: ['data.status'], examples: { LIVE_CLICK_SUCCESS, ...FISCALBOX_REFUSALS } },
  payme_go: { classify: REGISTRY.payme_go.classify, decisive: ['data.status'], examples: { PAYME_GO_SUCCESS, ...FISCALBOX_REFUSALS } },
  freedompay_create: {
    classify: REGISTRY.freedompay.classify,
    decisive: ['data.status', 'data.receipt_id'],
    examples: { FREEDOMPAY_CREATE_RESPONSE, FREEDOMPAY_RECEIPT_OBJECT, FREEDOMPAY_GET_RESPONSE },
  },
  freedompay_read: { classify: classifyReceiptRead, decisive: ['data.status'], examples: { FREEDOMPAY_CREATE_RESPONSE, FREEDOMPAY_RECEIPT_OBJECT, FREEDOMPAY_GET_RESPONSE } },
  freedompay_list: { classify: classifyReceiptList, decisive: ['data'], examples: { FREEDOMPAY_LIST_RESPONSE } },
};

const isObject = (v: unknown): v is Record<string, Json> => typeof v === 'object' && v !== null;

/** Every path in a JSON value, parents before children. */
function paths(value: Json, prefix: Path = []): Path[] {
  if (!isObject(value)) return [];
  return Object.keys(value).flatMap((key) => {
    const path = [...prefix, Array.isArray(value) ? Number(key) : key];
    return [path, ...paths(value[key as never], path)];
  });
}

const dotted = (path: Path) => path.join('.');

/** Paths a mutation may touch: neither a decisive field nor one of its parents (which would move it). */
function mutable(body: Json, decisive: string[]): Path[] {
  const fixed = body?.is_success === false ? ['is_success'] : body && 'is_success' in body ? ['is_success', ...decisive] : decisive;
  return paths(body).filter((path) => {
    const p = dotted(path);
    return !fixed.some((d) => d === p || d.startsWith(`${p}.`));
  });
}

type Mutation = { path: Path; kind: 'null' | 'drop' | 'retype'; value?: Json };

function apply(body: Json, mutations: Mutation[]): Json {
  const copy = structuredClone(body);
  for (const { path, kind, value } of mutations) {
    let parent: Json = copy;
    for (const key of path.slice(0, -1)) {
      parent = isObject(parent) ? parent[key as never] : undefined;
    }
    const last = path[path.length - 1]!;
    if (!isObject(parent) || !(last in parent)) continue; // an earlier mutation removed or replaced a parent
    if (kind === 'drop') {
      if (Array.isArray(parent)) parent[last as number] = null;
      else delete parent[last as never];
    } else parent[last as never] = kind === 'null' ? null : value;
  }
  return copy;
}

function mutations(body: Json, decisive: string[]): fc.Arbitrary<Mutation[]> {
  const candidates = mutable(body, decisive);
  const one = (path: Path): fc.Arbitrary<Mutation> =>
    fc.oneof(
      fc.constant<Mutation>({ path, kind: 'null' }),
      fc.constant<Mutation>({ path, kind: 'drop' }),
      fc.jsonValue({ maxDepth: 2 }).map((value): Mutation => ({ path, kind: 'retype', value })),
    );
  return fc.subarray(candidates, { minLength: 1 }).chain((chosen) => fc.tuple(...chosen.map(one)));
}

describe.each(Object.entries(CASES))('%s: only the decisive fields decide the class', (_name, { classify, decisive, examples }) => {
  it.each(Object.entries(examples))('from %s, nulling, dropping or retyping other fields never changes the class', (_example, body) => {
    const expected = classify(httpAnswer(200, body)).class;
    expect(mutable(body, decisive).length).toBeGreaterThan(0);
    fc.assert(
      fc.property(mutations(body, decisive), (changes) => {
        expect(classify(httpAnswer(200, apply(body, changes))).class).toBe(expected);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('a refusal stays a refusal whatever its data and error hold', () => {
  const fiscalbox = Object.entries(CASES).filter(([, c]) => c.examples.FISCALBOX_ERROR);
  it.each(fiscalbox)('%s', (_name, { classify }) => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 3 }), fc.option(fc.jsonValue({ maxDepth: 3 }), { nil: undefined }), (data, error) => {
        const body: Json = { data, is_success: false };
        if (error !== undefined) body.error = error;
        const outcome = classify(httpAnswer(200, body));
        expect(outcome.class).toBe('rejected');
        if (outcome.class === 'rejected') expect(outcome.code.length).toBeGreaterThan(0);
      }),
      { numRuns: RUNS },
    );
  });
});
