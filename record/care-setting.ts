/**
 * The care setting of a source system (GP, hospital, community, mental health, social care),
 * said by the server so that no client guesses it from the shape of a source key. In order:
 * the locality's feeds file (`kind` of the feed with that key, ingest/feeds.ts) when the server
 * was given one; the organisation running the source in the locality's reference data
 * (reference/organisations.csv `kind` and `source_systems`, or the ODS code in the key); a
 * GP practice the practice table lists; then the documented key conventions (docs/feeds.md
 * "Source system keys": `gp:<ODS>` a practice's system, `hl7:<facility>` a hospital's HL7 v2
 * feed). Each answer says where it came from. Pure.
 */
import type { FeedKind } from '../ingest/feeds.ts';
import { COMMUNITY, MENTAL_HEALTH_COMMUNITY, OrganisationDirectory, SOCIAL_CARE, type Organisation } from './organisations.ts';
import type { OrganisationKind } from './reference/reference-data.ts';

/** The care settings: the same words as a feed's `kind`. */
export type CareSetting = FeedKind;

export interface SourceSetting {
  setting: CareSetting;
  /** What said so: the feeds file, the organisation's kind in the reference data, or the key's convention. */
  from: 'feeds' | 'organisation' | 'key';
  /** The organisation running the source, when known. */
  organisation: { odsCode: string; name: string } | null;
}

const BY_ORGANISATION_KIND: Record<OrganisationKind, CareSetting | null> = {
  'gp-practice': 'gp',
  'hospital-trust': 'hospital',
  'hospital-site': 'hospital',
  'community-provider': 'community',
  'mental-health-trust': 'mental-health',
  'social-care': 'social-care',
  other: null,
};

const BY_KEY: Record<string, CareSetting> = {
  [COMMUNITY]: 'community',
  [SOCIAL_CARE]: 'social-care',
  [MENTAL_HEALTH_COMMUNITY]: 'mental-health',
};

/** The setting of one source system; `feedKinds` maps a feeds file's keys to their kinds. */
export function sourceSetting(system: string, directory: OrganisationDirectory, feedKinds: ReadonlyMap<string, CareSetting> = new Map()): SourceSetting {
  const org: Organisation | undefined = directory.ofSource(system);
  const organisation = org ? { odsCode: org.odsCode, name: org.name } : null;
  const fed = feedKinds.get(system);
  if (fed) return { setting: fed, from: 'feeds', organisation };
  const byKind = org ? BY_ORGANISATION_KIND[org.kind] : null;
  if (byKind) return { setting: byKind, from: 'organisation', organisation };
  const byKey = BY_KEY[system] ?? (system.startsWith('gp:') ? 'gp' : system.startsWith('hl7:') ? 'hospital' : null);
  return { setting: byKey ?? 'other', from: 'key', organisation };
}

/** The `meta.tag` system of an item's care setting in Bevan's `$everything` (code: a CareSetting). */
export const CARE_SETTING_TAG = 'urn:bevan:care-setting';

const LABEL: Record<CareSetting, string> = { gp: 'GP', hospital: 'Hospital', community: 'Community', 'mental-health': 'Mental health', 'social-care': 'Social care', other: 'Other' };

/**
 * Tags each resource of a Bundle that names its source (`meta.source`) with that source's care
 * setting (`meta.tag`, system CARE_SETTING_TAG), in place. The merged Patient names no source and is left as it is.
 */
export function tagCareSettings(entries: readonly { resource?: { meta?: { source?: string; tag?: { system?: string; code?: string; display?: string }[] } } }[], directory: OrganisationDirectory, feedKinds?: ReadonlyMap<string, CareSetting>): void {
  const cache = new Map<string, CareSetting>();
  for (const e of entries) {
    const meta = e.resource?.meta;
    const system = meta?.source;
    if (!meta || !system) continue;
    let setting = cache.get(system);
    if (!setting) cache.set(system, (setting = sourceSetting(system, directory, feedKinds).setting));
    meta.tag = [...(meta.tag ?? []).filter((t) => t.system !== CARE_SETTING_TAG), { system: CARE_SETTING_TAG, code: setting, display: LABEL[setting] }];
  }
}
