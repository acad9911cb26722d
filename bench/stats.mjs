// The benchmarks' figures: median, p99 and max of a list of samples, and
// the line that prints them.
export const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { median: at(0.5), p99: at(0.99), max: s[s.length - 1] };
};

// A printer of "NAME n=N median=... p99=... max=..." lines, names padded to
// width, values with digits decimals; each call returns the median.
export const liner = (width, digits) => (name, xs, unit = 'ms') => {
  const { median, p99, max } = stats(xs);
  const v = (x) => x.toFixed(digits).padStart(8);
  console.log(`${name.padEnd(width)} n=${String(xs.length).padEnd(4)} median=${v(median)} ${unit}  p99=${v(p99)} ${unit}  max=${v(max)} ${unit}`);
  return median;
};
