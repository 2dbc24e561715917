/**
 * Source systems as people know them. Every stored item names its source system in
 * `meta.source` with Bevan's source system keys (docs/feeds.md, "Source system keys"):
 * `gp:<ODS>` for a practice's clinical system, `hl7:<facility>` for a hospital's HL7 v2 feed,
 * `csv:community`, `csv:socialcare`, `csv:mentalhealth`. The care setting follows from the key
 * (the mental health trust's own HL7 v2 feed is named by its ODS code in the locality's feeds
 * file, `hl7:RXV`). Pure.
 */

export const SETTINGS = ['gp', 'hospital', 'community', 'mental-health', 'social-care', 'other'] as const;
export type Setting = (typeof SETTINGS)[number];

export const SETTING_LABEL: Record<Setting, string> = {
  gp: 'GP',
  hospital: 'Hospital',
  community: 'Community',
  'mental-health': 'Mental health',
  'social-care': 'Social care',
  other: 'Other',
};

/** Source keys whose setting is not the one their prefix suggests (the feeds file's `kind`). */
const KNOWN_KINDS: Record<string, Setting> = {
  'hl7:RXV': 'mental-health',
  'csv:mentalhealth': 'mental-health',
  'csv:community': 'community',
  'csv:socialcare': 'social-care',
};

export function settingOf(system: string | null | undefined): Setting {
  if (!system) return 'other';
  const known = KNOWN_KINDS[system];
  if (known) return known;
  if (system.startsWith('gp:')) return 'gp';
  if (system.startsWith('hl7:')) return 'hospital';
  if (/mental/i.test(system)) return 'mental-health';
  if (/social/i.test(system)) return 'social-care';
  if (/community/i.test(system)) return 'community';
  return 'other';
}

/** `GP practice P91010 (Davyhulme Family Practice)`, `Hospital RM2`, `Social care`, … */
export function sourceLabel(system: string, practiceNames: ReadonlyMap<string, string> = new Map()): string {
  if (system.startsWith('gp:')) {
    const ods = system.slice(3);
    const name = practiceNames.get(ods);
    return name ? `GP practice ${ods} (${name})` : `GP practice ${ods}`;
  }
  switch (system) {
    case 'csv:community':
      return 'Community services';
    case 'csv:socialcare':
      return 'Social care';
    case 'csv:mentalhealth':
      return 'Mental health services (community)';
    case 'hl7:RXV':
      return 'Mental health trust RXV';
  }
  if (system.startsWith('hl7:')) return `Hospital ${system.slice(4)}`;
  return system;
}

const RANK: Record<Setting, number> = { gp: 0, hospital: 1, community: 2, 'mental-health': 3, 'social-care': 4, other: 5 };

/** Orders sources as a clinician reads a record: GP, hospital, community, mental health, social care. */
export function compareSources(a: string, b: string): number {
  return RANK[settingOf(a)] - RANK[settingOf(b)] || (a < b ? -1 : a > b ? 1 : 0);
}
