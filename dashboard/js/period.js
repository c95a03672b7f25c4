// Reporting periods: rolling windows ending at the next whole UTC hour (so repeated loads
// within an hour ask the same question), and the time buckets of a range in the browser's zone.

export const PERIODS = [
  ['24h', 'Last 24 hours', 1],
  ['7d', 'Last 7 days', 7],
  ['30d', 'Last 30 days', 30],
  ['90d', 'Last 90 days', 90],
];

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** {from, to, prevFrom, prevTo} (Date) of a period id. */
export function periodRange(id, now = Date.now()) {
  const days = (PERIODS.find((p) => p[0] === id) ?? PERIODS[2])[2];
  const to = Math.ceil(now / HOUR) * HOUR;
  const from = to - days * DAY;
  return { from: new Date(from), to: new Date(to), prevFrom: new Date(from - days * DAY), prevTo: new Date(from) };
}

export function timeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

const pad = (n) => String(n).padStart(2, '0');
const localDate = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;

function localHour(d) {
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return `${localDate(d)}T${pad(d.getHours())}:${pad(d.getMinutes())}:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** The labels the API gives the buckets of [from, to) at a grain (hour, day, week). */
export function bucketLabels(grain, from, to) {
  const labels = [];
  if (grain === 'hour') {
    for (let t = from.getTime(); t < to.getTime(); t += HOUR) labels.push(localHour(new Date(t)));
    return labels;
  }
  const d = new Date(from.getFullYear(), from.getMonth(), from.getDate());
  const end = new Date(to.getTime() - 1);
  const seen = new Set();
  while (d <= end) {
    let label;
    if (grain === 'week') {
      const monday = new Date(d);
      monday.setDate(d.getDate() - ((d.getDay() + 6) % 7));
      label = localDate(monday);
    } else {
      label = localDate(d);
    }
    if (!seen.has(label)) {
      seen.add(label);
      labels.push(label);
    }
    d.setDate(d.getDate() + 1);
  }
  return labels;
}

/** A bucket label made short for an axis. */
export function shortLabel(grain, label) {
  if (grain === 'hour') return `${label.slice(5, 10)} ${label.slice(11, 16)}`;
  return label.slice(5);
}
