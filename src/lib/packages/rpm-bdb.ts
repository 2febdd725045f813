// The values of a Berkeley DB hash database: RPM's `Packages` file on RHEL 8 and older (and on
// CentOS, Amazon Linux 2, …), where each value is one installed package's header.
//
// No npm library reads it in a browser: @snyk/rpm-parser does, but on Node's Buffer, with
// `debug` and an event-loop helper, so it would drag Node polyfills into the worker bundle.
// This reader walks the pages in file order rather than following the hash buckets: every item
// lives on a hash page whatever bucket it hashed to, and a scan needs no hash function.
//
// The layout (Berkeley DB 4/5, in the byte order of the machine that wrote it):
// - page 0 is the hash metadata page: magic 0x061561 at byte 12, the page size at 20, the
//   last page's number at 32, and the page type (8) at 25;
// - every page starts with a 26-byte header: the next page at 16, the entry count at 20, a
//   length at 22 (on overflow pages, the bytes of data on the page), the page type at 25;
// - a hash page (types 2 and 13) has an array of 2-byte item offsets after its header; items
//   alternate key and value and are packed from the end of the page down, so an item ends
//   where the one before it starts. An item's first byte says what it is: 1 = the bytes
//   follow, 3 = a reference to overflow pages (the first page's number at +4, the length at
//   +8);
// - an overflow page (type 7) holds its bytes right after its header and names the next.

const hashMagic = 0x061561;
const pageHeader = 26;
const pHashUnsorted = 2;
const pOverflow = 7;
const pHashMeta = 8;
const pHash = 13;
const hKeyData = 1;
const hOffPage = 3;

export interface BdbValues {
  values: Uint8Array[];
  problems: string[];
}

/** Every value of a Berkeley DB hash file. A file that is not one, or is damaged, gives what
 * could be read and problems; never an exception. Work is bounded by the file's size. */
export function bdbHashValues(file: Uint8Array): BdbValues {
  const problems: string[] = [];
  const values: Uint8Array[] = [];
  if (file.length < 512) return { values, problems: ['too short for a Berkeley DB file'] };
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let le: boolean;
  if (view.getUint32(12, true) === hashMagic) le = true;
  else if (view.getUint32(12, false) === hashMagic) le = false;
  else return { values, problems: ['not a Berkeley DB hash database (no hash magic)'] };
  const u16 = (at: number) => view.getUint16(at, le);
  const u32 = (at: number) => view.getUint32(at, le);
  if (file[24] !== 0) return { values, problems: ['the database is encrypted'] };
  if (file[25] !== pHashMeta) return { values, problems: ['page 0 is not hash metadata'] };
  const pageSize = u32(20);
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
    return { values, problems: [`the page size ${pageSize} is not one Berkeley DB uses`] };
  }
  const pagesInFile = Math.floor(file.length / pageSize);
  const lastPage = u32(32);
  if (lastPage + 1 > pagesInFile) {
    problems.push(`the file ends at page ${pagesInFile - 1}, before its last page ${lastPage}`);
  }
  const pages = Math.min(lastPage + 1, pagesInFile);
  // A sound file's overflow chains each belong to one item, so copying more than the file's
  // size means items share chains (a loop, or a crafted file): stop there.
  let budget = file.length;

  /** The bytes of an item stored on overflow pages, or a problem. */
  const overflow = (first: number, length: number): Uint8Array | string => {
    if (length > budget) return `an item of ${length} bytes is larger than the file`;
    const out = new Uint8Array(length);
    let filled = 0;
    let page = first;
    for (let hops = 0; filled < length; hops++) {
      if (page === 0 || page >= pages || hops >= pages)
        return `an overflow chain breaks at page ${page}`;
      const at = page * pageSize;
      if (file[at + 25] !== pOverflow) return `page ${page} is not an overflow page`;
      const n = Math.min(u16(at + 22), pageSize - pageHeader, length - filled);
      out.set(file.subarray(at + pageHeader, at + pageHeader + n), filled);
      filled += n;
      if (n === 0) return `overflow page ${page} is empty`;
      page = u32(at + 16);
    }
    budget -= length;
    return out;
  };

  let damaged = 0;
  for (let page = 1; page < pages; page++) {
    const at = page * pageSize;
    const type = file[at + 25];
    if (type !== pHash && type !== pHashUnsorted) continue;
    const entries = u16(at + 20);
    if (pageHeader + entries * 2 > pageSize) {
      damaged++;
      continue;
    }
    // Values are the odd entries; each is read from its offset up to the previous item's start.
    for (let i = 1; i < entries; i += 2) {
      const off = u16(at + pageHeader + i * 2);
      const end = u16(at + pageHeader + (i - 1) * 2);
      if (off < pageHeader + entries * 2 || off >= pageSize || end > pageSize) {
        damaged++;
        continue;
      }
      const kind = file[at + off];
      if (kind === hKeyData) {
        if (end <= off) {
          damaged++;
          continue;
        }
        values.push(file.subarray(at + off + 1, at + end));
      } else if (kind === hOffPage) {
        if (off + 12 > pageSize) {
          damaged++;
          continue;
        }
        const v = overflow(u32(at + off + 4), u32(at + off + 8));
        if (typeof v === 'string') {
          problems.push(v);
          if (budget <= 0) break;
        } else values.push(v);
      } else damaged++;
    }
  }
  if (damaged > 0) problems.push(`${damaged} damaged item${damaged === 1 ? '' : 's'} skipped`);
  return { values, problems };
}
