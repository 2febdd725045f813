// The headers in RPM's own "ndb" database (`Packages.db`), which SUSE uses. No npm library
// reads it without Node's Buffer (see rpm-bdb.ts), and the format is small.
//
// The layout (little-endian, rpm's lib/backend/ndb/rpmpkg.c):
// - a 32-byte header: magic "RpmP", version 0, a generation, and how many 4 KiB slot pages
//   follow from the file's start (the header takes the first two 16-byte slots);
// - 16-byte slots: magic "Slot", the package's index (0 = a free slot), the blob's offset and
//   length in 16-byte blocks;
// - at a slot's offset, a 16-byte blob header (magic "BlbS", the package's index, a checksum
//   and the blob's length) and then the header blob itself.

const headerMagic = 0x506d7052; // "RpmP"
const slotMagic = 0x746f6c53; // "Slot"
const blobMagic = 0x53626c42; // "BlbS"
const slotPage = 4096;
const block = 16;

export interface NdbValues {
  values: Uint8Array[];
  problems: string[];
}

/** Every package header in an NDB file; a damaged file gives what could be read and problems,
 * never an exception. */
export function ndbValues(file: Uint8Array): NdbValues {
  const values: Uint8Array[] = [];
  const problems: string[] = [];
  if (file.length < slotPage) return { values, problems: ['too short for an RPM ndb database'] };
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (view.getUint32(0, true) !== headerMagic) {
    return { values, problems: ['not an RPM ndb database (no RpmP magic)'] };
  }
  if (view.getUint32(4, true) !== 0) {
    return { values, problems: [`ndb version ${view.getUint32(4, true)} is not one Berth reads`] };
  }
  const slotPages = view.getUint32(12, true);
  const slotsEnd = Math.min(slotPages * slotPage, file.length - (file.length % block));
  if (slotPages === 0 || slotPages * slotPage > file.length) {
    problems.push(`the header claims ${slotPages} slot pages in a file of ${file.length} bytes`);
  }
  let damaged = 0;
  for (let at = 2 * block; at + block <= slotsEnd; at += block) {
    if (view.getUint32(at, true) !== slotMagic) {
      damaged++;
      continue;
    }
    const index = view.getUint32(at + 4, true);
    if (index === 0) continue;
    const offset = view.getUint32(at + 8, true) * block;
    const blocks = view.getUint32(at + 12, true);
    if (offset < slotsEnd || offset + block > file.length) {
      damaged++;
      continue;
    }
    const length = view.getUint32(offset + 12, true);
    if (
      view.getUint32(offset, true) !== blobMagic ||
      view.getUint32(offset + 4, true) !== index ||
      length > blocks * block ||
      offset + block + length > file.length
    ) {
      damaged++;
      continue;
    }
    values.push(file.subarray(offset + block, offset + block + length));
  }
  if (damaged > 0) problems.push(`${damaged} damaged slot${damaged === 1 ? '' : 's'} skipped`);
  return { values, problems };
}
