// CycloneDX 1.6 JSON from an image's inventory.
import type { Inventory } from '../packages/types.ts';
import type { SbomSubject } from './types.ts';

/** A CycloneDX 1.6 BOM (JSON) whose metadata.component is the image. */
export function toCycloneDX(_inventory: Inventory, _subject: SbomSubject): Record<string, unknown> {
  throw new Error('CycloneDX export is not built yet');
}
