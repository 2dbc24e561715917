// Group search (https://hl7.org/fhir/R4/group.html#search) over the Groups Bevan defines (GP
// practices and registers): few enough to filter in memory. Parameters: _id, identifier
// (token: [system|]value), name (string: starts with, or :contains; case-insensitive), type,
// actual, code (token text), _count, _offset, _summary=count. Pure.

export interface GroupSearch {
  filter: (g: Record<string, unknown>) => boolean;
  count: number;
  offset: number;
  summaryCount: boolean;
  unknown: string[];
}

export const GROUP_SEARCH_PARAMS = ['_id', 'identifier', 'name', 'name:contains', 'name:exact', 'type', 'actual', 'code', '_count', '_offset', '_summary'];

type Query = Record<string, string | string[] | undefined>;

const fold = (s: string) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();

/** Parses a Group search; throws a message for a value that cannot be read. */
export function parseGroupSearch(query: Query): GroupSearch | { problems: string[] } {
  const problems: string[] = [];
  const tests: ((g: Record<string, unknown>) => boolean)[] = [];
  const unknown: string[] = [];
  let count = 100;
  let offset = 0;
  let summaryCount = false;
  for (const [key, raw] of Object.entries(query)) {
    if (raw === undefined) continue;
    for (const value of Array.isArray(raw) ? raw : [raw]) {
      // Comma: any of the values (FHIR's OR within one parameter).
      const any = value.split(',').map((v) => v.trim()).filter(Boolean);
      switch (key) {
        case '_id':
          tests.push((g) => any.includes(String(g.id)));
          break;
        case 'identifier':
          tests.push((g) =>
            ((g.identifier as { system?: string; value?: string }[] | undefined) ?? []).some((i) =>
              any.some((v) => {
                const bar = v.indexOf('|');
                return bar < 0 ? i.value === v : (bar === 0 || i.system === v.slice(0, bar)) && i.value === v.slice(bar + 1);
              }),
            ),
          );
          break;
        case 'name':
        case 'name:contains':
        case 'name:exact':
          tests.push((g) => {
            const name = String(g.name ?? '');
            return any.some((v) => (key === 'name:exact' ? name === v : key === 'name' ? fold(name).startsWith(fold(v)) || fold(name).split(/\s+/).some((w) => w.startsWith(fold(v))) : fold(name).includes(fold(v))));
          });
          break;
        case 'type':
          tests.push((g) => any.includes(String(g.type)));
          break;
        case 'actual':
          if (any.some((v) => v !== 'true' && v !== 'false')) problems.push(`actual "${value}": true or false`);
          tests.push((g) => any.includes(String(g.actual)));
          break;
        case 'code':
          tests.push((g) => any.some((v) => fold(String((g.code as { text?: string } | undefined)?.text ?? '')).includes(fold(v))));
          break;
        case '_count':
          if (!/^\d{1,4}$/.test(value)) problems.push(`_count "${value}" is not a whole number`);
          else count = Math.min(1000, Number(value));
          break;
        case '_offset':
          if (!/^\d{1,6}$/.test(value)) problems.push(`_offset "${value}" is not a whole number`);
          else offset = Number(value);
          break;
        case '_summary':
          if (value === 'count') summaryCount = true;
          else if (value !== 'false') problems.push(`_summary "${value}": count or false`);
          break;
        case '_format':
          break;
        default:
          unknown.push(key);
      }
    }
  }
  if (problems.length) return { problems };
  return { filter: (g) => tests.every((t) => t(g)), count, offset, summaryCount, unknown };
}
