/** One sample of the Prometheus text exposition format. */
export interface PrometheusSample {
  /** Metric name as written, e.g. `vllm:num_requests_running` or `vllm:e2e_request_latency_seconds_sum`. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseValue(text: string): number {
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  return Number(text);
}

/**
 * Parses Prometheus text format 0.0.4 (what prometheus_client serves at `/metrics`). Comment,
 * HELP and TYPE lines are skipped; label values are unescaped; lines that do not parse are
 * ignored rather than failing the whole scrape.
 */
export function parsePrometheusText(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const nameMatch = /^([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(line);
    if (!nameMatch) continue;
    const name = nameMatch[1]!;
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      let index = 1;
      let ok = false;
      while (index < rest.length) {
        while (rest[index] === ' ' || rest[index] === ',') index += 1;
        if (rest[index] === '}') {
          ok = true;
          index += 1;
          break;
        }
        const labelMatch = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(rest.slice(index));
        if (!labelMatch) break;
        index += labelMatch[0].length;
        let value = '';
        while (index < rest.length && rest[index] !== '"') {
          if (rest[index] === '\\' && index + 1 < rest.length) {
            const next = rest[index + 1];
            value += next === 'n' ? '\n' : next;
            index += 2;
          } else {
            value += rest[index];
            index += 1;
          }
        }
        index += 1;
        labels[labelMatch[1]!] = value;
      }
      if (!ok) continue;
      rest = rest.slice(index);
    }
    const valueText = rest.trim().split(/\s+/)[0];
    if (valueText === undefined || valueText === '') continue;
    const value = parseValue(valueText);
    if (Number.isNaN(value) && valueText !== 'NaN') continue;
    samples.push({ name, labels, value });
  }
  return samples;
}

/** Sum of every sample named `name` whose labels include `match`. `undefined` when there is none. */
export function sumSamples(samples: readonly PrometheusSample[], name: string, match: Record<string, string> = {}): number | undefined {
  let total: number | undefined;
  for (const sample of samples) {
    if (sample.name !== name) continue;
    if (Object.entries(match).some(([key, value]) => sample.labels[key] !== value)) continue;
    total = (total ?? 0) + sample.value;
  }
  return total;
}
