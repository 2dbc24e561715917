/**
 * Source systems as people know them. Every stored item names its source system in
 * `meta.source` with Bevan's source system keys (docs/feeds.md, "Source system keys"):
 * `gp:<ODS>` for a practice's clinical system, `hl7:<facility>` for a hospital's HL7 v2 feed,
 * `csv:community`, `csv:socialcare`, `csv:mentalhealth`. The server says each item's care setting
 * (a `meta.tag` with system CARE_SETTING_TAG in `$everything`, from the locality's feeds and
 * organisations data: record/care-setting.ts) — the mental health trust's HL7 v2 feed is
 * `hl7:RXV`, which no key convention tells from a hospital's. `settingOf` is only the fallback
 * for an item without the tag (an older server): the key conventions alone. Pure.
 */

/** The `meta.tag` system of an item's care setting (record/care-setting.ts on the server). */
export const CARE_SETTING_TAG = 'urn:bevan:care-setting';

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

/** The documented keys of the CSV feeds (docs/feeds.md), whose prefix says nothing of their setting. */
const KNOWN_KINDS: Record<string, Setting> = {
  'csv:mentalhealth': 'mental-health',
  'csv:community': 'community',
  'csv:socialcare': 'social-care',
};

/** The care setting the server tagged an item with, or null. */
export function taggedSetting(meta: { tag?: { system?: string; code?: string }[] } | undefined): Setting | null {
  const code = meta?.tag?.find((t) => t.system === CARE_SETTING_TAG)?.code;
  return code && (SETTINGS as readonly string[]).includes(code) ? (code as Setting) : null;
}

/** The setting a source key suggests by convention alone (the fallback when the server has not said). */
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

/** `GP practice P91010 (Davyhulme Family Practice)`, `Hospital RM2`, `Mental health trust RXV`, `Social care`, …; an HL7 v2 feed is named by its setting when known. */
export function sourceLabel(system: string, practiceNames: ReadonlyMap<string, string> = new Map(), setting?: Setting): string {
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
  }
  if (system.startsWith('hl7:')) return `${HL7_LABEL[setting ?? 'hospital']} ${system.slice(4)}`;
  return system;
}

const HL7_LABEL: Record<Setting, string> = { gp: 'GP system', hospital: 'Hospital', community: 'Community services', 'mental-health': 'Mental health trust', 'social-care': 'Social care', other: 'HL7 v2 feed' };

const RANK: Record<Setting, number> = { gp: 0, hospital: 1, community: 2, 'mental-health': 3, 'social-care': 4, other: 5 };

/** Orders sources as a clinician reads a record: GP, hospital, community, mental health, social care. */
export function compareSources(a: string, b: string, setting: (system: string) => Setting = settingOf): number {
  return RANK[setting(a)] - RANK[setting(b)] || (a < b ? -1 : a > b ? 1 : 0);
}
