// Exact money: the API's amounts are decimal strings of USD with up to 12 decimal places
// (picodollars). They are shown as written — grouped, trailing zeros beyond the cents
// trimmed — and added or compared as BigInt picodollars, never as floats. Only chart axes use
// Number (plot positions); a chart's tooltip shows the API's string.

const PICO_DIGITS = 12;

/** BigInt picodollars of a decimal string ("-0.001500" → -1500000000n). */
export function toPicos(s) {
  const text = String(s ?? '0').trim();
  const m = /^(-?)(\d*)(?:\.(\d*))?$/.exec(text);
  if (!m) throw new Error(`not a decimal amount: ${text}`);
  const [, sign, whole, frac = ''] = m;
  if (frac.length > PICO_DIGITS && /[1-9]/.test(frac.slice(PICO_DIGITS))) {
    throw new Error(`more than ${PICO_DIGITS} decimal places: ${text}`);
  }
  const digits = BigInt((whole || '0') + frac.slice(0, PICO_DIGITS).padEnd(PICO_DIGITS, '0'));
  return sign ? -digits : digits;
}

/** The decimal string of BigInt picodollars, with at least 2 decimal places. */
export function fromPicos(p) {
  const negative = p < 0n;
  const abs = negative ? -p : p;
  const scale = 10n ** BigInt(PICO_DIGITS);
  const whole = (abs / scale).toString();
  let frac = (abs % scale).toString().padStart(PICO_DIGITS, '0').replace(/0+$/, '');
  if (frac.length < 2) frac = frac.padEnd(2, '0');
  return `${negative ? '-' : ''}${whole}.${frac}`;
}

/** Sum of decimal strings, exact. */
export function sumUsd(values) {
  let total = 0n;
  for (const v of values) total += toPicos(v);
  return fromPicos(total);
}

/** a − b, exact. */
export function subUsd(a, b) {
  return fromPicos(toPicos(a) - toPicos(b));
}

/** −1, 0 or 1. */
export function cmpUsd(a, b) {
  const d = toPicos(a) - toPicos(b);
  return d < 0n ? -1 : d > 0n ? 1 : 0;
}

/**
 * How an amount is written on a page: "$" and the API's digits, thousands grouped, trailing
 * zeros beyond the cents trimmed ("0.004200" → "$0.0042", "12.000000" → "$12.00"). Every
 * significant digit stays: this is the ledger's value, not a rounding of it.
 */
export function formatUsd(s) {
  const text = String(s ?? '');
  const m = /^(-?)(\d+)(?:\.(\d*))?$/.exec(text);
  if (!m) return text;
  const [, sign, whole, fracRaw = ''] = m;
  let frac = fracRaw.replace(/0+$/, '');
  if (frac.length < 2) frac = frac.padEnd(2, '0');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}$${grouped}.${frac}`;
}

/** The same amount, normalised for comparison: no trailing zeros, no "$" or commas. */
export function normalizeUsd(s) {
  return fromPicos(toPicos(String(s).replace(/[$,]/g, '')));
}

/** A ratio of two amounts as a float, for bars and percentages only. */
export function ratio(a, b) {
  const d = toPicos(b);
  if (d === 0n) return null;
  // Scaled integer division keeps 6 significant digits of the ratio before going to Number.
  return Number((toPicos(a) * 1_000_000n) / d) / 1_000_000;
}

/** An amount as a float, for chart positions only. */
export function usdNumber(s) {
  return Number(s);
}

/** amount × numerator ÷ denominator, exact to the picodollar (truncated). */
export function scaleUsd(s, numerator, denominator) {
  if (!denominator) return null;
  return fromPicos((toPicos(s) * BigInt(Math.round(numerator))) / BigInt(Math.round(denominator)));
}

/** An amount cut (towards zero) to `places` decimal places. */
export function truncateUsd(s, places) {
  if (s === null) return null;
  const unit = 10n ** BigInt(PICO_DIGITS - places);
  return fromPicos((toPicos(s) / unit) * unit);
}
