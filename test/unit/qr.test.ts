import { describe, expect, it } from 'vitest';
import { fiscalQrCode, normalizeQrCode } from '../../src/domain/qr.js';

/** Issue 19: a fiscal receipt's URL is compared, stored and sent as parsed, in one form (src/domain/qr.ts). */
const SEED = 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161';
const schema = fiscalQrCode(['ofd.soliq.uz']);

function accepted(value: string): string {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new Error(`${value} was refused: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return parsed.data;
}

function refusal(value: string): string {
  const parsed = schema.safeParse(value);
  expect(parsed.success, `${value} was accepted`).toBe(false);
  return parsed.error!.issues.map((i) => i.message).join('; ');
}

describe('normalizeQrCode: one form per receipt', () => {
  it('the seed URL is already in its normal form', () => {
    expect(normalizeQrCode(SEED)).toBe(SEED);
    expect(accepted(SEED)).toBe(SEED);
  });

  it.each([
    ['spaces and a newline around it', `  ${SEED}\n`],
    ['another parameter order', 'https://ofd.soliq.uz/check?s=514343190161&c=20230104121801&r=2421&t=UZ170703100597'],
    ['an upper-case host', 'https://OFD.Soliq.UZ/check?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161'],
    ['raw spaces around a value', 'https://ofd.soliq.uz/check?t=UZ170703100597&r= 2421 &c=20230104121801&s=514343190161'],
    ['encoded spaces around a value (%20 and +)', 'https://ofd.soliq.uz/check?t=%20UZ170703100597&r=+2421+&c=20230104121801&s=514343190161%20'],
    ['percent-encoded letters and digits in values', 'https://ofd.soliq.uz/check?t=%55%5a170703100597&r=%32421&c=20230104121801&s=514343190161'],
    ['percent-encoded letters in the path', 'https://ofd.soliq.uz/ch%65%63k?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161'],
    ['the default port, a fragment and an empty parameter', 'https://ofd.soliq.uz:443/check?t=UZ170703100597&&r=2421&c=20230104121801&s=514343190161#receipt'],
    ['a receipt parameter repeated with the same value', 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161&r=%202421'],
  ])('%s is the same receipt', (_, spelling) => {
    expect(accepted(spelling)).toBe(SEED);
  });

  it('keeps other parameters after t, r, c, s, sorted by name, then by value, with duplicates kept', () => {
    const a = accepted(`${SEED}&z=9&lang=uz&x=b&x=a&x=a`);
    const b = accepted('https://ofd.soliq.uz/check?x=a&lang=uz&x=a&s=514343190161&x=b&c=20230104121801&r=2421&z=9&t=UZ170703100597');
    expect(a).toBe(`${SEED}&lang=uz&x=a&x=a&x=b&z=9`);
    expect(b).toBe(a);
  });

  it('sorts values as trimmed and by code unit, so neither padding nor the locale changes the order', () => {
    // Padding sorted before trimming would put " b" before "a"; a locale would put "ä" or "B" next to "a" or "b".
    const forms = [`${SEED}&x=%20b&x=a&x=B&x=%C3%A4`, `${SEED}&x=%C3%A4&x=B&x=a&x=b`, `${SEED}&x=a&x=b&x=B&x=%C3%A4`].map(accepted);
    expect(new Set(forms).size).toBe(1);
    expect(forms[0]).toBe(`${SEED}&x=B&x=a&x=b&x=%C3%A4`);
  });

  it('writes reserved and non-ASCII characters percent-encoded, in upper-case hex', () => {
    expect(accepted(`${SEED}&note=a%2fb%3f%c3%a4`)).toBe(`${SEED}&note=a%2Fb%3F%C3%A4`);
    expect(accepted('https://ofd.soliq.uz/a%2fb?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161')).toBe(
      'https://ofd.soliq.uz/a%2Fb?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161',
    );
  });

  it.each([
    ['another receipt number', 'https://ofd.soliq.uz/check?t=UZ170703100597&r=2422&c=20230104121801&s=514343190161'],
    ['a space inside a value (not around it)', 'https://ofd.soliq.uz/check?t=UZ170703%20100597&r=2421&c=20230104121801&s=514343190161'],
    ['another path', 'https://ofd.soliq.uz/CHECK?t=UZ170703100597&r=2421&c=20230104121801&s=514343190161'],
    ['a lower-case letter in a value', 'https://ofd.soliq.uz/check?t=uz170703100597&r=2421&c=20230104121801&s=514343190161'],
    ['an extra parameter', `${SEED}&lang=uz`],
    ['an encoded plus (a plus, not a space)', 'https://ofd.soliq.uz/check?t=UZ170703100597%2B&r=2421&c=20230104121801&s=514343190161'],
  ])('%s is another receipt', (_, other) => {
    expect(accepted(other)).not.toBe(SEED);
  });

  it('refuses a receipt parameter given twice with different values, naming it (which receipt is meant?)', () => {
    expect(refusal(`${SEED}&t=UZ999`)).toMatch(/receipt parameter\(s\) t more than once with different values/);
    expect(refusal('https://ofd.soliq.uz/check?t=UZ1&r=1&r=2&c=3&c=4&s=5')).toMatch(/parameter\(s\) r, c more than once/);
  });

  it('refuses a receipt parameter that is only spaces as missing', () => {
    expect(refusal('https://ofd.soliq.uz/check?t=UZ170703100597&r=%20%20&c=20230104121801&s=514343190161')).toMatch(/missing the receipt parameter\(s\) r/);
  });

  it('is idempotent', () => {
    for (const spelling of [`  ${SEED}&x=%20b&x=a `, 'https://OFD.soliq.uz:443/ch%65ck?s=5&c=4&r=3&t=%55&note=a%2fb']) {
      const once = accepted(spelling);
      expect(normalizeQrCode(once)).toBe(once);
    }
  });
});
