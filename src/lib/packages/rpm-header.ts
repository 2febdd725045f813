// An RPM header as the package database stores it: the header of the installed package,
// without the lead and the signature a .rpm file has. Every backend (sqlite, Berkeley DB,
// NDB) stores the same blob, so this one reader serves all three.
//
// Layout (big-endian throughout): the index's entry count `il` and the data store's length
// `dl`, then `il` entries of 16 bytes (tag, type, offset into the data store, count), then the
// data store. Only the few tags Berth shows are read; the rest are skipped unparsed.
import type { PackageFacts } from './types.ts';

const tagName = 1000;
const tagVersion = 1001;
const tagRelease = 1002;
const tagEpoch = 1003;
const tagVendor = 1011;
const tagLicense = 1014;
const tagUrl = 1020;
const tagArch = 1022;
const tagSourceRpm = 1044;

const typeInt32 = 4;
const typeString = 6;
const typeStringArray = 8;
const typeI18nString = 9;

/** The fields of one header Berth uses. */
export interface RpmHeader {
  name?: string;
  version?: string;
  release?: string;
  epoch?: number;
  arch?: string;
  sourceRpm?: string;
  license?: string;
  vendor?: string;
  url?: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Reads a header blob; a string saying what is wrong when it is not one. */
export function parseRpmHeader(blob: Uint8Array): RpmHeader | string {
  if (blob.length < 8) return `${blob.length} bytes is too short for a header`;
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  const il = view.getUint32(0);
  const dl = view.getUint32(4);
  // Both counts are checked against the blob before anything is sized by them.
  if (il === 0 || il > (blob.length - 8) / 16) return `its index claims ${il} entries`;
  const dataStart = 8 + il * 16;
  if (dl > blob.length - dataStart) return `its data store claims ${dl} bytes`;
  const data = blob.subarray(dataStart, dataStart + dl);
  const h: RpmHeader = {};
  for (let i = 0; i < il; i++) {
    const at = 8 + i * 16;
    const tag = view.getUint32(at);
    const type = view.getUint32(at + 4);
    const offset = view.getUint32(at + 8);
    const count = view.getUint32(at + 12);
    if (offset >= dl) continue;
    switch (tag) {
      case tagName:
        h.name = stringAt(data, type, offset);
        break;
      case tagVersion:
        h.version = stringAt(data, type, offset);
        break;
      case tagRelease:
        h.release = stringAt(data, type, offset);
        break;
      case tagArch:
        h.arch = stringAt(data, type, offset);
        break;
      case tagSourceRpm:
        h.sourceRpm = stringAt(data, type, offset);
        break;
      case tagLicense:
        h.license = stringAt(data, type, offset);
        break;
      case tagVendor:
        h.vendor = stringAt(data, type, offset);
        break;
      case tagUrl:
        h.url = stringAt(data, type, offset);
        break;
      case tagEpoch:
        if (type === typeInt32 && count >= 1 && offset + 4 <= dl) {
          h.epoch = new DataView(data.buffer, data.byteOffset + offset, 4).getUint32(0);
        }
        break;
    }
  }
  return h;
}

/** The first string at `offset`, up to its NUL (or the end of the store). */
function stringAt(data: Uint8Array, type: number, offset: number): string | undefined {
  if (type !== typeString && type !== typeStringArray && type !== typeI18nString) return undefined;
  let end = data.indexOf(0, offset);
  if (end < 0) end = data.length;
  return utf8.decode(data.subarray(offset, end));
}

/** `[epoch:]version-release`, as `rpm -q --qf '%{EVR}'` prints it. */
export function rpmEvr(h: RpmHeader): string {
  const vr = h.release ? `${h.version ?? ''}-${h.release}` : (h.version ?? '');
  return h.epoch !== undefined ? `${h.epoch}:${vr}` : vr;
}

/** The package a header describes, or a problem when it lacks a name or version. */
export function rpmFacts(blob: Uint8Array): PackageFacts | string {
  const h = parseRpmHeader(blob);
  if (typeof h === 'string') return h;
  if (!h.name) return 'a header has no NAME';
  if (h.version === undefined) return `${h.name} has no VERSION`;
  const p: PackageFacts = { ecosystem: 'rpm', name: h.name, version: rpmEvr(h) };
  if (h.arch) p.arch = h.arch;
  if (h.sourceRpm) p.source = h.sourceRpm;
  if (h.license) p.license = h.license;
  const extra: Record<string, string> = {};
  if (h.vendor) extra.vendor = h.vendor;
  if (h.url) extra.homepage = h.url;
  if (Object.keys(extra).length > 0) p.extra = extra;
  return p;
}
